"""Writing masks and label maps in the exact grid of the image they belong to."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from voxelprompt.errors import GeometryError
from voxelprompt.files import full_suffix
from voxelprompt.volume.io.registry import save
from voxelprompt.volume.volume import Volume

PICTURE_SUFFIXES = (".png", ".tif", ".tiff")


def smallest_label_dtype(labels: np.ndarray) -> np.dtype:
    """The smallest unsigned/signed integer type holding every label."""
    top = int(labels.max()) if labels.size else 0
    low = int(labels.min()) if labels.size else 0
    for dtype in (np.uint8, np.uint16, np.int32):
        info = np.iinfo(dtype)
        if low >= info.min and top <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def save_mask(mask: np.ndarray | Volume, reference: Volume, path: str | os.PathLike[str]) -> Path:
    """Write a mask or label map on ``reference``'s grid.

    The file gets the reference's shape and affine; for NIfTI references the reference header is
    reused (qform, sform, their codes, pixdim, units), with scaling removed and an integer type.
    Binary masks written as pictures are stored as 0/255.

    Args:
        mask: Boolean or integer array of the reference's spatial shape, or a Volume on its grid.
        reference: The image the mask belongs to.
        path: Output file; the extension chooses the format.

    Returns:
        The path written.

    Raises:
        GeometryError: If the mask is not on the reference grid.
    """
    if isinstance(mask, Volume):
        if not mask.same_grid(reference):
            raise GeometryError(
                f"mask ({mask.describe_grid()}) is not on the grid of the reference image "
                f"({reference.describe_grid()})",
                "resample it onto the reference first",
            )
        mask = mask.array
    arr = np.asarray(mask)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.shape != reference.shape:
        raise GeometryError(
            f"mask shape {arr.shape} differs from the reference grid {reference.shape}",
            "resample the mask onto the reference image first",
        )
    if arr.dtype == bool or (arr.size and set(np.unique(arr).tolist()) <= {0, 1}):
        binary = arr.astype(bool)
        arr = binary.astype(np.uint8) * 255 if full_suffix(path) in PICTURE_SUFFIXES else binary.astype(np.uint8)
    else:
        arr = arr.astype(smallest_label_dtype(arr))
    out = reference.with_array(arr, channel_names=None, intensity_unit="label")
    return save(out, path)
