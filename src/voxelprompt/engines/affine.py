"""Affine registration of a scan to the MNI template, as one 4x4 matrix.

ANTsPy registers the ICBM 2009a template to the scan at 3 mm with Mattes mutual information (any
MRI contrast or CT). The result is read back from the ITK transform as a matrix mapping the scan's
world coordinates (RAS mm) to template world coordinates, so that resampling either way is a
plain matrix product.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from functools import cache

import numpy as np

from voxelprompt.engines.atlas import ants_registration, crop_to_foreground, normalise_intensity, to_ants
from voxelprompt.vision.templates import template
from voxelprompt.volume import Volume
from voxelprompt.volume.checks import require_finite

LPS4 = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class TemplateAffine:
    """``scan_to_template``: 4x4, scan RAS mm -> template RAS mm."""

    scan_to_template: np.ndarray
    template: str
    seconds: float


def itk_affine_to_ras(parameters: np.ndarray, center: np.ndarray) -> np.ndarray:
    """4x4 RAS matrix of an ITK affine (12 parameters + centre), which maps fixed LPS to moving LPS."""
    matrix = np.asarray(parameters[:9], float).reshape(3, 3)
    translation = np.asarray(parameters[9:12], float)
    center = np.asarray(center, float)
    lps = np.eye(4)
    lps[:3, :3] = matrix
    lps[:3, 3] = translation + center - matrix @ center
    return LPS4 @ lps @ LPS4


def register_affine(image: Volume, template_name: str = "icbm2009a", *, resolution_mm: float = 3.0,
                    seed: int = 1) -> TemplateAffine:
    """Affine map from ``image``'s world to the template's world (Mattes MI, ANTsPy)."""
    import ants

    start = time.perf_counter()
    data = normalise_intensity(require_finite(image, "image").astype(np.float32))
    fixed = crop_to_foreground(ants.resample_image(to_ants(image, data), (resolution_mm,) * 3, False, 1))
    moving = _moving_template(template_name, resolution_mm)
    with tempfile.TemporaryDirectory(prefix="voxelprompt-affine-") as tmp:
        reg = ants_registration(fixed, moving, type_of_transform="Affine", aff_metric="mattes",
                                seed=seed, outprefix=f"{tmp}/affine_")
        tx = ants.read_transform(reg["fwdtransforms"][0])
        matrix = itk_affine_to_ras(np.asarray(tx.parameters), np.asarray(tx.fixed_parameters))
    return TemplateAffine(matrix, template_name, time.perf_counter() - start)


@cache
def _moving_template(template_name: str, resolution_mm: float):
    """The template as the registration takes it (intensities normalised, resampled to ``resolution_mm``):
    the same for every scan, so made once per process (ANTs does not change its inputs)."""
    import ants

    tmpl = template(template_name)
    data = normalise_intensity(np.asarray(tmpl.array, np.float32))
    return ants.resample_image(to_ants(tmpl, data), (resolution_mm,) * 3, False, 1)
