"""Rigid and affine alignment of a second scan to a first (multi-contrast, multi-visit).

Registration runs in SimpleITK with Mattes mutual information, which does not assume the two
scans share a contrast (T1 to FLAIR, CT to MR), over a three-level multi-resolution pyramid.
The result is a world-space transform (RAS+, mm) plus the moving scan resampled onto the fixed grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np
import SimpleITK as sitk

from voxelprompt.errors import GeometryError
from voxelprompt.volume.checks import require_finite
from voxelprompt.volume.geometry import resample_to
from voxelprompt.volume.volume import Volume

log = logging.getLogger(__name__)
LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align`.

    Attributes:
        moved: The moving volume resampled onto the fixed volume's grid.
        fixed_to_moving_mm: 4x4 map from fixed world coordinates to moving world coordinates
            (RAS+, mm): the matrix :func:`voxelprompt.volume.geometry.resample_to` takes.
        metric: Final value of the (negative) Mattes mutual information; lower is better.
        transform: ``"rigid"`` or ``"affine"``.
    """

    moved: Volume
    fixed_to_moving_mm: np.ndarray
    metric: float
    transform: str


def to_sitk(volume: Volume, role: str = "image") -> sitk.Image:
    """Convert a scalar volume to a SimpleITK image with the same world geometry (ITK uses LPS)."""
    data = require_finite(volume, role).astype(np.float32)
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    lps = LPS @ volume.affine
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple(float(v) for v in (lps[:3, :3] / spacing).ravel()))
    image.SetOrigin(tuple(float(v) for v in lps[:3, 3]))
    return image


def _matrix_ras(transform: sitk.Transform) -> np.ndarray:
    """4x4 RAS matrix of a SimpleITK affine-like transform (which maps fixed LPS to moving LPS)."""
    matrix = np.array(transform.GetMatrix()).reshape(3, 3)
    center = np.array(transform.GetCenter())
    translation = np.array(transform.GetTranslation())
    lps = np.eye(4)
    lps[:3, :3] = matrix
    lps[:3, 3] = translation + center - matrix @ center
    return LPS @ lps @ LPS


def align(
    moving: Volume,
    fixed: Volume,
    *,
    transform: Literal["rigid", "affine"] = "rigid",
    interpolation: Literal["linear", "nearest", "label"] = "linear",
    seed: int = 0,
) -> Alignment:
    """Align ``moving`` to ``fixed`` and resample it onto ``fixed``'s grid.

    Args:
        moving: The scan to move (e.g. FLAIR, or the second visit).
        fixed: The reference scan (e.g. T1, or the first visit).
        transform: ``"rigid"`` (6 parameters, same subject) or ``"affine"`` (12 parameters).
        interpolation: How to resample the moved scan.
        seed: Seed of the metric's random sampling, for reproducible results.

    Returns:
        The :class:`Alignment`.

    Raises:
        GeometryError: If either volume lacks physical geometry or ``transform`` is unknown.
    """
    if transform not in ("rigid", "affine"):
        raise GeometryError(f"unknown transform '{transform}'", "use rigid or affine")
    for vol, role in ((moving, "moving"), (fixed, "fixed")):
        if not vol.is_physical:
            raise GeometryError(f"the {role} image has no physical spacing",
                                "registration needs images with millimetre geometry")
    fixed_img, moving_img = to_sitk(fixed, "fixed image"), to_sitk(moving, "moving image")
    base = sitk.Euler3DTransform() if transform == "rigid" else sitk.AffineTransform(3)
    initial = sitk.CenteredTransformInitializer(
        fixed_img, moving_img, base, sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.2, seed)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=200, relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(initial, inPlace=False)
    result = reg.Execute(fixed_img, moving_img)
    final = result.Downcast()
    if isinstance(final, sitk.CompositeTransform):
        final = final.GetNthTransform(0).Downcast()
    matrix = _matrix_ras(final)
    log.debug("alignment %s: metric %.4f after %d iterations", transform, reg.GetMetricValue(),
              reg.GetOptimizerIteration())
    moved = resample_to(moving, fixed, interpolation=interpolation, world_transform=matrix)
    return Alignment(moved, matrix, float(reg.GetMetricValue()), transform)
