"""2D pictures: PNG, JPEG, BMP (Pillow) and TIFF (tifffile).

Pictures carry no physical pixel size, so their volumes are in pixels (``spatial_unit="pixel"``).
Arrays are stored ``[i=column, j=row, k=0]`` so that ``i`` is x on screen and ``j`` is y.
RGB pictures keep their three channels; an alpha channel is dropped (and noted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from voxelprompt.errors import DimensionError, InputFileError
from voxelprompt.files import atomic_path
from voxelprompt.volume.io.registry import register_reader, register_writer
from voxelprompt.volume.volume import PIXEL, Volume, VolumeMetadata


def _from_rows_cols(pixels: np.ndarray, path: Path, notes: list[str]) -> Volume:
    """(rows, cols[, c]) or (pages, rows, cols[, c]) -> Volume in pixel units."""
    channels = None
    if pixels.ndim >= 3 and pixels.shape[-1] in (3, 4) and pixels.shape[-2] > 4:
        if pixels.shape[-1] == 4:
            pixels = pixels[..., :3]
            notes.append("alpha channel dropped")
        channels = ("R", "G", "B")
    spatial_ndim = pixels.ndim - (1 if channels else 0)
    if spatial_ndim == 2:
        pixels = pixels[np.newaxis]
    elif spatial_ndim != 3:
        raise InputFileError(f"picture {path} has unexpected shape {pixels.shape}",
                             "save it as a plain 2D grayscale or RGB picture")
    arr = np.swapaxes(np.moveaxis(pixels, 0, 2), 0, 1)  # (cols, rows, pages[, c])
    meta = VolumeMetadata(source=str(path), format="raster", spatial_unit=PIXEL,
                          is_2d=arr.shape[2] == 1, channel_names=channels,
                          notes=tuple(notes + ["no physical pixel size: lengths are in pixels"]))
    return Volume(arr, np.eye(4), meta)


@register_reader(".png", ".jpg", ".jpeg", ".bmp")
def read_picture(path: Path) -> Volume:
    """Read a PNG, JPEG or BMP picture (grayscale, 16-bit grayscale, RGB or palette)."""
    notes: list[str] = []
    with Image.open(path) as img:
        img.load()
        if img.mode in ("RGBA", "PA") or (img.mode == "P" and "transparency" in img.info):
            notes.append("alpha channel dropped")
        if img.mode in ("P", "PA", "CMYK", "YCbCr", "HSV", "LAB", "RGBA", "RGBX"):
            img = img.convert("RGB")
        elif img.mode == "LA":
            img = img.convert("L")
            notes.append("alpha channel dropped")
        pixels = np.array(img)
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8)
    return _from_rows_cols(pixels, path, notes)


@register_reader(".tif", ".tiff")
def read_tiff(path: Path) -> Volume:
    """Read a TIFF picture; a multi-page TIFF becomes a stack of frames along ``k``."""
    return _from_rows_cols(np.asarray(tifffile.imread(str(path))), path, [])


def _rows_cols(volume: Volume) -> np.ndarray:
    if volume.shape[2] != 1:
        raise DimensionError(
            f"cannot write a {volume.shape} volume as a 2D picture",
            "write volumes as .nii.gz; pictures hold a single slice",
        )
    arr = np.asarray(volume.array)[:, :, 0]
    return np.swapaxes(arr, 0, 1)


@register_writer(".png")
def write_png(volume: Volume, path: Path) -> None:
    """Write a single slice as PNG (8-bit or 16-bit grayscale, or RGB)."""
    arr = _rows_cols(volume)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype.kind in "iu" and arr.min() >= 0 and arr.max() < 256:
        arr = arr.astype(np.uint8)
    elif arr.dtype.kind in "iu" and arr.min() >= 0 and arr.max() < 65536 and arr.ndim == 2:
        arr = arr.astype(np.uint16)
    else:
        raise DimensionError(
            f"values {arr.min():g}..{arr.max():g} of type {arr.dtype} do not fit a PNG",
            "write to .tif or .nii.gz instead",
        )
    with atomic_path(path) as tmp:
        Image.fromarray(arr).save(tmp, format="PNG")


@register_writer(".tif", ".tiff")
def write_tiff(volume: Volume, path: Path) -> None:
    """Write a single slice as TIFF, keeping the data type."""
    arr = _rows_cols(volume)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    with atomic_path(path) as tmp:
        tifffile.imwrite(str(tmp), arr)
