"""Geometry operations that return new volumes carrying correct affines.

Every function names the space of its arguments: ``*_voxels`` arguments are voxel indices or counts,
``*_mm`` arguments are world millimetres (RAS+).
"""

from __future__ import annotations

from typing import Literal

import nibabel.orientations as nib_orient
import numpy as np
from scipy import ndimage

from voxelprompt.errors import GeometryError, MaskError
from voxelprompt.volume.volume import Volume

Interpolation = Literal["linear", "nearest", "label"]


def reorient(volume: Volume, codes: str = "RAS") -> Volume:
    """Permute and flip voxel axes so that they point along ``codes`` (e.g. ``"RAS"``, ``"LPI"``).

    No value is interpolated: the world position of every voxel value is unchanged.

    Args:
        volume: The volume to reorient.
        codes: Three axis codes, one of L/R, one of P/A, one of I/S.

    Returns:
        The reoriented volume.

    Raises:
        GeometryError: If ``codes`` is not a valid orientation.
    """
    codes = codes.upper()
    if len(codes) != 3 or {c for c in codes} - set("LRPAIS") or len(
        {c.translate(str.maketrans("LRPAIS", "xxyyzz")) for c in codes}
    ) != 3:
        raise GeometryError(f"'{codes}' is not an orientation", "use three codes such as RAS or LPI")
    current = nib_orient.io_orientation(volume.affine)
    target = nib_orient.axcodes2ornt(tuple(codes))
    transform = nib_orient.ornt_transform(current, target)
    data = nib_orient.apply_orientation(np.asarray(volume.array), transform)
    affine = volume.affine @ nib_orient.inv_ornt_aff(transform, volume.shape)
    return volume.with_geometry(np.ascontiguousarray(data), affine)


def _sampling_matrix(source: Volume, reference: Volume, world_transform: np.ndarray | None) -> np.ndarray:
    """4x4 map from reference voxel indices to source voxel indices."""
    world = np.eye(4) if world_transform is None else np.asarray(world_transform, float)
    return np.linalg.inv(source.affine) @ world @ reference.affine


def _resample_scalar(data: np.ndarray, matrix: np.ndarray, shape: tuple[int, int, int],
                     order: int, fill: float) -> np.ndarray:
    out_dtype = np.float32 if data.dtype.kind != "f" or data.dtype.itemsize < 8 else np.float64
    return ndimage.affine_transform(
        data.astype(out_dtype, copy=False), matrix[:3, :3], offset=matrix[:3, 3],
        output_shape=shape, order=order, mode="constant", cval=fill, prefilter=False,
    )


def _label_boxes(labels: np.ndarray) -> dict[int, tuple[slice, ...]]:
    objects = ndimage.find_objects(labels.astype(np.int64, copy=False))
    return {n + 1: box for n, box in enumerate(objects) if box is not None}


def _resample_labels(labels: np.ndarray, matrix: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Label-preserving resampling: each label's indicator is interpolated linearly, the largest
    wins (background included), computed only inside each label's transformed bounding box."""
    best = np.full(shape, 0.5, dtype=np.float32)  # a label must beat 0.5 to replace background
    out = np.zeros(shape, dtype=labels.dtype)
    inv = np.linalg.inv(matrix)
    for label, box in _label_boxes(labels).items():
        corners = np.array(np.meshgrid(*[(s.start - 1, s.stop) for s in box], indexing="ij"))
        corners = corners.reshape(3, -1).T
        target = corners @ inv[:3, :3].T + inv[:3, 3]
        lo = np.maximum(np.floor(target.min(0)).astype(int) - 1, 0)
        hi = np.minimum(np.ceil(target.max(0)).astype(int) + 2, shape)
        if np.any(hi <= lo):
            continue
        sub_matrix = matrix.copy()
        sub_matrix[:3, 3] = matrix[:3, :3] @ lo + matrix[:3, 3]
        indicator = (labels == label).astype(np.float32)
        value = ndimage.affine_transform(
            indicator, sub_matrix[:3, :3], offset=sub_matrix[:3, 3],
            output_shape=tuple(int(n) for n in hi - lo), order=1, mode="constant", cval=0.0,
        )
        region = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        wins = value > best[region]
        best[region][wins] = value[wins]
        out[region][wins] = label
    return out


def resample_to(
    volume: Volume,
    reference: Volume,
    *,
    interpolation: Interpolation = "linear",
    world_transform: np.ndarray | None = None,
    fill: float = 0.0,
) -> Volume:
    """Resample ``volume`` onto ``reference``'s voxel grid.

    Args:
        volume: The image or label map to resample.
        reference: The volume whose grid (shape and affine) the result takes.
        interpolation: ``"linear"`` for images, ``"nearest"`` or ``"label"`` for masks and label
            maps (``"label"`` interpolates each label's indicator and keeps the most likely label,
            which keeps thin structures better than nearest neighbour).
        world_transform: Optional 4x4 map from reference world (mm) to ``volume`` world (mm), e.g.
            the result of :func:`voxelprompt.volume.registration.align`.
        fill: Value outside ``volume``'s field of view.

    Returns:
        The resampled volume on the reference grid, keeping ``volume``'s metadata except its
        format header.

    Raises:
        GeometryError: If ``interpolation`` is unknown or the units of the two grids differ.
    """
    if interpolation not in ("linear", "nearest", "label"):
        raise GeometryError(f"unknown interpolation '{interpolation}'", "use linear, nearest or label")
    if volume.spatial_unit != reference.spatial_unit:
        raise GeometryError(
            f"cannot resample a volume in {volume.spatial_unit} onto a grid in {reference.spatial_unit}",
            "both volumes need physical (mm) geometry",
        )
    if world_transform is None and volume.same_grid(reference, atol_mm=1e-6):
        return volume.with_geometry(np.array(volume.array), reference.affine)
    matrix = _sampling_matrix(volume, reference, world_transform)
    data = np.asarray(volume.array)
    if interpolation == "label":
        if data.ndim != 3 or data.dtype.kind not in "iub":
            raise MaskError("label resampling needs an integer 3D label map",
                            "use interpolation='linear' for images")
        out = _resample_labels(data.astype(np.int32) if data.dtype == bool else data,
                               matrix, reference.shape)
        out = out.astype(bool) if data.dtype == bool else out
    else:
        order = 1 if interpolation == "linear" else 0
        channels = [data] if data.ndim == 3 else [data[..., c] for c in range(data.shape[3])]
        parts = [_resample_scalar(c, matrix, reference.shape, order, fill) for c in channels]
        out = parts[0] if data.ndim == 3 else np.stack(parts, axis=-1)
        if interpolation == "nearest":
            out = out.astype(data.dtype)
    return volume.with_geometry(out, reference.affine)


def crop(volume: Volume, start_voxels: tuple[int, int, int], stop_voxels: tuple[int, int, int]) -> Volume:
    """Cut out voxels ``start_voxels`` (inclusive) to ``stop_voxels`` (exclusive) along i, j, k.

    Raises:
        GeometryError: If the box is empty or outside the volume.
    """
    start = np.asarray(start_voxels, int)
    stop = np.asarray(stop_voxels, int)
    if np.any(start < 0) or np.any(stop > volume.shape) or np.any(stop <= start):
        raise GeometryError(
            f"crop box {tuple(start)}..{tuple(stop)} does not fit the grid {volume.shape}",
            "give start >= 0 and start < stop <= shape",
        )
    region = tuple(slice(int(a), int(b)) for a, b in zip(start, stop))
    shift = np.eye(4)
    shift[:3, 3] = start
    return volume.with_geometry(np.array(volume.array[region]), volume.affine @ shift)


def pad(volume: Volume, before_voxels: tuple[int, int, int], after_voxels: tuple[int, int, int],
        *, fill: float = 0) -> Volume:
    """Add ``before_voxels``/``after_voxels`` voxels on each side along i, j, k, filled with ``fill``."""
    before = np.asarray(before_voxels, int)
    after = np.asarray(after_voxels, int)
    if np.any(before < 0) or np.any(after < 0):
        raise GeometryError("padding must be >= 0 voxels", "use crop to remove voxels")
    widths = [(int(b), int(a)) for b, a in zip(before, after)]
    if volume.array.ndim == 4:
        widths.append((0, 0))
    data = np.pad(np.asarray(volume.array), widths, mode="constant", constant_values=fill)
    shift = np.eye(4)
    shift[:3, 3] = -before
    return volume.with_geometry(data, volume.affine @ shift)


def crop_to_mask(volume: Volume, mask: np.ndarray, *, margin_mm: float = 0.0) -> Volume:
    """Crop ``volume`` to the bounding box of ``mask`` (same grid) plus ``margin_mm`` on each side.

    Raises:
        MaskError: If the mask is empty.
    """
    mask = np.asarray(mask)
    if mask.shape[:3] != volume.shape or not np.any(mask):
        raise MaskError("crop_to_mask needs a non-empty mask on the volume's grid")
    idx = np.argwhere(mask)
    margin = np.ceil(margin_mm / np.asarray(volume.spacing)).astype(int)
    start = np.maximum(idx.min(0) - margin, 0)
    stop = np.minimum(idx.max(0) + 1 + margin, volume.shape)
    return crop(volume, tuple(start), tuple(stop))
