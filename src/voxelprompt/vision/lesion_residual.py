"""What a scan shows that its aligned template does not: the input channels of the lesion network.

Given a scan and, at every one of its voxels, the intensity of the ICBM 2009a T1 and the
FreeSurfer label read through a deformable alignment, the template is repainted in the scan's
contrast (the median scan intensity of each template-intensity bin, with a smooth multiplicative
bias fitted alongside, robustly, so that a lesion's own voxels do not pull it). The bias is local
(a Gaussian of ``BIAS_MM``, 8 mm): a broader one cannot follow a bias bump a few centimetres
across in 3D, and the residual it leaves buries lesions of a similar step. Before it, two broad
passes (``BROAD_BIAS_MM``, 25 mm) fit the bias over the whole brain without robust weights: a
strong shading (a region 50-70 % brighter) can otherwise be dropped as an outlier from the
start and stay in the residual as a false lesion of tens of millilitres. That *expected* image
carries the anatomy; what differs from it is either anatomy the template does not share or
pathology. The channels go to ``vision.lesionnet``, which learns to tell the two apart. One more
channel does not rest on the template at all: the scan minus itself at the mirrored atlas
position (x -> -x in the symmetric template's space), bias removed. A lesion is on one side
only, and any contrast maps both hemispheres alike, so that channel stays flat where the
template's anatomy merely differs from the scan's on both sides.

Everything runs on a *working grid*: the scan's own voxel axes resampled to ``WORK_MM`` isotropic
voxels (so that one network sees every spacing alike), and results go back onto the scan's grid
with ``from_working_grid``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from voxelprompt.errors import MaskError
from voxelprompt.vision.synth3d import WM_IDS

WORK_MM = 1.5
VOXEL_ML = WORK_MM ** 3 / 1000  # volume of one working-grid voxel
BINS, BIAS_MM, SMOOTH_MM, REACH_MM = 64, 8.0, 1.0, 2.0
BROAD_BIAS_MM, BROAD_PASSES = 25.0, 2  # the first, non-robust bias passes
CSF_IDS = (4, 5, 14, 15, 24, 31, 43, 44, 63, 72)  # ventricles, choroid plexus, CSF
CHANNELS = ("scan", "template", "expected", "residual", "outlier", "asymmetry", "white matter", "csf", "brain")
MIRROR_STEPS = 3


def working_shape(shape: tuple[int, ...], spacing: np.ndarray) -> tuple[int, ...]:
    return tuple(int(np.floor((n - 1) * s / WORK_MM)) + 1 for n, s in zip(shape[:3], spacing))


def to_working_grid(data: np.ndarray, spacing: np.ndarray, order: int = 1) -> np.ndarray:
    """``data`` (on a grid of voxel size ``spacing``) resampled onto ``WORK_MM`` voxels along the same axes."""
    spacing = np.asarray(spacing, float)
    return ndimage.affine_transform(data, np.diag(WORK_MM / spacing), output_shape=working_shape(data.shape, spacing),
                                    order=order, mode="nearest")


def from_working_grid(data: np.ndarray, spacing: np.ndarray, shape: tuple[int, ...],
                      start: tuple[int, ...] = (0, 0, 0)) -> np.ndarray:
    """A working-grid array carried back onto the scan's grid of ``shape`` (trilinear).

    With ``start``, the result is the block of that shape whose first voxel is scan voxel ``start``.
    """
    scale = np.asarray(spacing, float) / WORK_MM
    return ndimage.affine_transform(data, np.diag(scale), np.asarray(start, float) * scale, output_shape=shape[:3],
                                    order=1, mode="nearest")


def ball(radius_mm: float, spacing) -> np.ndarray:
    spacing = np.broadcast_to(np.asarray(spacing, float), (3,))
    r = np.floor(radius_mm / spacing).astype(int)
    g = np.indices(2 * r + 1).astype(float) - r[:, None, None, None]
    return ((g * spacing[:, None, None, None]) ** 2).sum(0) <= radius_mm ** 2


def _smooth_within(x: np.ndarray, w: np.ndarray, sigma_mm: float, spacing) -> np.ndarray:
    s = sigma_mm / np.asarray(spacing, float)
    return ndimage.gaussian_filter(x * w, s) / np.maximum(ndimage.gaussian_filter(w.astype(np.float32), s), 1e-3)


def _bin_medians(d: np.ndarray, bins: np.ndarray, where: np.ndarray) -> np.ndarray:
    order = np.argsort(bins[where])
    b, v = bins[where][order], d[where][order]
    edges = np.searchsorted(b, np.arange(BINS + 1))
    med = np.array([np.median(v[edges[i]:edges[i + 1]]) if edges[i + 1] - edges[i] >= 20 else np.nan
                    for i in range(BINS)])
    ok = ~np.isnan(med)
    if not ok.any():
        return np.zeros(BINS)
    return np.interp(np.arange(BINS), np.flatnonzero(ok), med[ok])


def expected_image(d: np.ndarray, t: np.ndarray, brain: np.ndarray,
                   spacing=WORK_MM) -> tuple[np.ndarray, np.ndarray]:
    """The template ``t`` repainted in the contrast of ``d``, times a smooth bias fitted with it; and that bias.

    ``d`` and ``t`` are on one grid of voxel size ``spacing`` (mm, one number or one per axis).
    """
    bins = np.clip((t * (BINS - 1)).round().astype(int), 0, BINS - 1)
    bias, w = np.ones_like(d), brain.copy()
    for _ in range(BROAD_PASSES):  # broad, not robust: strong shading first, before the robust weights drop it
        bias = _bias_fit(d, _bin_medians(d / bias, bins, brain)[bins], brain, BROAD_BIAS_MM, spacing)
    for _ in range(3):
        e = _bin_medians(d / bias, bins, w)[bins]
        r = d / bias - e
        w = brain & (np.abs(r) < 3 * max(float(np.median(np.abs(r[brain]))), 1e-6))
        bias = _bias_fit(d, e, w, BIAS_MM, spacing)
    return _bin_medians(d / bias, bins, w)[bins] * bias, bias


def _bias_fit(d: np.ndarray, e: np.ndarray, w: np.ndarray, sigma_mm: float, spacing) -> np.ndarray:
    """The smooth multiplicative bias that best scales ``e`` to ``d`` over ``w`` (least squares, Gaussian-local)."""
    num, den = _smooth_within(d * e, w, sigma_mm, spacing), _smooth_within(e * e, w, sigma_mm, spacing)
    return np.where(den > 1e-4, num / np.maximum(den, 1e-4), 1.0)


def normalise_scan(raw: np.ndarray) -> np.ndarray:
    """Scan intensities scaled so that the 0.5th and 99.5th percentiles of its nonzero voxels are 0 and 1."""
    nonzero = raw[raw != 0]
    if nonzero.size == 0:
        return np.zeros_like(raw, dtype=np.float32)
    lo, hi = np.percentile(nonzero, [0.5, 99.5])
    return ((raw - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)


def mirror_coordinates(world: np.ndarray) -> np.ndarray:
    """Voxel coordinates (3, X, Y, Z) of the mirror image of every voxel of a grid.

    ``world`` (3, X, Y, Z) gives the atlas position (mm, the symmetric template's space, midline at
    x = 0) of every voxel; the mirror of voxel p is the voxel whose atlas position is p's with x
    negated. Solved by Newton steps on the least-squares affine part of the map, the deformation
    read by trilinear interpolation.
    """
    shape = world.shape[1:]
    sub = (slice(None, None, 4),) * 3
    grid = np.indices(shape, dtype=np.float32)[(slice(None), *sub)].reshape(3, -1)
    design = np.vstack([grid, np.ones(grid.shape[1], np.float32)]).T
    fit, *_ = np.linalg.lstsq(design, world[(slice(None), *sub)].reshape(3, -1).T, rcond=None)
    linear_inv, offset = np.linalg.inv(fit[:3].T), fit[3]
    target = world * np.array([-1.0, 1.0, 1.0], np.float32)[:, None, None, None]
    q = np.einsum("ij,j...->i...", linear_inv, target - offset[:, None, None, None]).astype(np.float32)
    for _ in range(MIRROR_STEPS):
        at_q = np.stack([ndimage.map_coordinates(w, q, order=1, mode="nearest") for w in world])
        q -= np.einsum("ij,j...->i...", linear_inv, at_q - target).astype(np.float32)
    return q


def residual_channels(scan: np.ndarray, template_t1: np.ndarray, labels: np.ndarray,
                      mirror: np.ndarray) -> np.ndarray:
    """The ``CHANNELS`` (C, X, Y, Z) float32 on the working grid, from working-grid inputs.

    ``scan`` is normalised (``normalise_scan``), ``template_t1`` the template intensity (0..1) and
    ``labels`` the FreeSurfer label at each voxel, all read through the alignment; ``mirror`` the
    voxel coordinates of each voxel's mirror image (``mirror_coordinates``).
    """
    atlas_brain = labels > 0
    if not atlas_brain.any():
        raise MaskError("the aligned atlas covers none of the scan",
                        "check that the image is a head scan and that its header gives its orientation")
    d = scan.astype(np.float32)
    expected, bias = expected_image(d, template_t1, atlas_brain)
    nearest = ndimage.distance_transform_edt(~atlas_brain, return_distances=False, return_indices=True)
    e, b = expected[tuple(nearest)], np.maximum(bias[tuple(nearest)], 0.2)
    ds = ndimage.gaussian_filter(d, SMOOTH_MM / WORK_MM)
    fp = ball(REACH_MM, WORK_MM)
    hi_e, lo_e = ndimage.grey_dilation(e, footprint=fp), ndimage.grey_erosion(e, footprint=fp)
    outlier = np.maximum(np.maximum(lo_e - ds, ds - hi_e), 0) / b
    near_brain = ndimage.binary_dilation(atlas_brain, iterations=2)
    flat = ndimage.gaussian_filter(d / b, SMOOTH_MM / WORK_MM)
    asymmetry = (flat - ndimage.map_coordinates(flat, mirror, order=1, mode="nearest")) * near_brain
    channels = [d, template_t1, e, (ds - e) / b, outlier * near_brain, asymmetry,
                np.isin(labels, WM_IDS), np.isin(labels, CSF_IDS), atlas_brain]
    return np.stack([np.asarray(c, np.float32) for c in channels])
