"""Validation of volumes before an operation uses them; each failure is a one-line error."""

from __future__ import annotations

import numpy as np

from voxelprompt.errors import DimensionError, GeometryError, MaskError, ValueContentError
from voxelprompt.volume.volume import Volume


def _name(volume: Volume, role: str) -> str:
    return f"{role} '{volume.metadata.source}'" if volume.metadata.source else role


def require_scalar(volume: Volume, role: str = "image") -> np.ndarray:
    """Return the 3D scalar array of ``volume``.

    A trailing channel axis of length 1 is dropped.

    Raises:
        DimensionError: If the volume has several channels (RGB, or a 4D time series).
    """
    arr = volume.array
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        what = "RGB/colour" if volume.metadata.channel_names else "4D"
        raise DimensionError(
            f"{_name(volume, role)} is {what} with shape {tuple(volume.array.shape)}; a single 3D "
            "scalar volume is needed",
            "extract one frame or channel first (e.g. with nibabel or fslroi)",
        )
    return arr


def require_finite(volume: Volume, role: str = "image") -> np.ndarray:
    """Return the scalar array of ``volume`` after checking that every value is finite.

    Raises:
        ValueContentError: If any voxel is NaN or infinite.
    """
    arr = require_scalar(volume, role)
    if arr.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            raise ValueContentError(
                f"{_name(volume, role)} has {bad} NaN or infinite voxels",
                "replace them with a finite value (e.g. 0) before measuring",
            )
    return arr


def require_labels(volume: Volume, role: str = "mask") -> np.ndarray:
    """Return the label array of a mask or label map as integers.

    Raises:
        ValueContentError: If values are NaN or infinite.
        MaskError: If values are not whole numbers, are negative, or no voxel is labelled.
    """
    arr = require_finite(volume, role)
    if arr.dtype == bool:
        labels = arr.astype(np.uint8)
    elif arr.dtype.kind in "iu":
        labels = arr
    else:
        rounded = np.rint(arr)
        if not np.array_equal(rounded, arr):
            raise MaskError(
                f"{_name(volume, role)} holds non-integer values (range {arr.min():g} to "
                f"{arr.max():g}); it looks like a probability map, not a label mask",
                "threshold it first, e.g. mask = probability > 0.5",
            )
        labels = rounded.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise MaskError(f"{_name(volume, role)} holds negative labels", "labels must be >= 0")
    if not np.any(labels):
        raise MaskError(
            f"{_name(volume, role)} is empty (no voxel is labelled)",
            "check that the segmentation succeeded or pick another file",
        )
    return labels


def require_same_grid(a: Volume, b: Volume, role_a: str = "mask", role_b: str = "image") -> None:
    """Check that two volumes share one voxel grid.

    Raises:
        GeometryError: If shapes or affines differ (beyond 1e-3 mm).
    """
    if not a.same_grid(b):
        raise GeometryError(
            f"{_name(a, role_a)} ({a.describe_grid()}) and {_name(b, role_b)} "
            f"({b.describe_grid()}) are on different voxel grids",
            f"resample the {role_a} onto the {role_b} first: voxelprompt resample "
            f"{role_a.upper()} --like {role_b.upper()} --labels --output OUT.nii.gz",
        )
