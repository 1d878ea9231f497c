"""Pictures of masks: three orthogonal views through a region, overlaid on its image (PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from voxelprompt.files import atomic_path
from voxelprompt.volume import Volume
from voxelprompt.volume.geometry import reorient

COLOUR = np.array([255, 64, 32], np.float32)
VIEW_SIZE = 256


def _window(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros_like(values, np.float32)
    lo, hi = np.percentile(finite, [1, 99])
    return np.clip((values - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def _panel(image: np.ndarray, mask: np.ndarray, aspect: float) -> PILImage.Image:
    grey = (_window(image) * 255)[..., None].repeat(3, -1)
    rgb = np.where(mask[..., None], 0.55 * grey + 0.45 * COLOUR, grey).astype(np.uint8)
    picture = PILImage.fromarray(np.ascontiguousarray(rgb))
    h, w = rgb.shape[:2]
    scale = VIEW_SIZE / max(h * aspect, w)
    return picture.resize((max(1, round(w * scale)), max(1, round(h * aspect * scale))), PILImage.NEAREST)


def mask_views(image: Volume, mask: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a PNG with sagittal, coronal and axial views through the centre of ``mask``.

    Radiological convention, as in most viewers: the patient's right is on the left of the coronal
    and axial views (marked R and L), superior is up, anterior is right in the sagittal view.
    """
    ras_image = reorient(image, "RAS")
    ras_mask = reorient(image.with_array(np.asarray(mask, np.uint8), channel_names=None, intensity_unit="label"),
                        "RAS")
    data = np.asarray(ras_image.array, np.float32)
    if data.ndim == 4:
        data = data[..., 0]
    m = np.asarray(ras_mask.array) > 0
    centre = np.argwhere(m).mean(0).round().astype(int) if m.any() else np.array(data.shape) // 2
    sx, sy, sz = ras_image.spacing
    # np.rot90 puts the first array axis along the columns (increasing to the right) and the
    # second along the rows (increasing upwards); [:, ::-1] then puts the patient's right on the left.
    views = [
        (np.rot90(data[centre[0], :, :]), np.rot90(m[centre[0], :, :]), sz / sy, False),  # sagittal
        (np.rot90(data[:, centre[1], :])[:, ::-1], np.rot90(m[:, centre[1], :])[:, ::-1], sz / sx, True),  # coronal
        (np.rot90(data[:, :, centre[2]])[:, ::-1], np.rot90(m[:, :, centre[2]])[:, ::-1], sy / sx, True),  # axial
    ]
    panels = []
    for img, msk, aspect, lateral in views:
        panel = _panel(img, msk, aspect)
        if lateral:
            draw = ImageDraw.Draw(panel)
            draw.text((4, 4), "R", fill=(255, 255, 0))
            draw.text((panel.width - 12, 4), "L", fill=(255, 255, 0))
        panels.append(panel)
    width = sum(p.width for p in panels) + 8 * (len(panels) - 1)
    height = max(p.height for p in panels)
    sheet = PILImage.new("RGB", (width, height), (0, 0, 0))
    x = 0
    for p in panels:
        sheet.paste(p, (x, (height - p.height) // 2))
        x += p.width + 8
    target = Path(path)
    with atomic_path(target) as tmp:
        sheet.save(tmp, format="PNG")
    return target


INSTANCE_COLOURS = [(255, 48, 48), (48, 200, 255), (80, 255, 80), (255, 160, 0), (220, 80, 255), (255, 255, 255)]


def overlay_2d(picture: np.ndarray, masks: np.ndarray | list[np.ndarray],
               boxes: tuple[float, float, float, float] | list[tuple[float, float, float, float]] = ()
               ) -> np.ndarray:
    """A (rows, cols, 3) uint8 picture with each mask outlined in its own colour and boxes in yellow.

    Args:
        picture: (rows, cols) grayscale or (rows, cols, 3) RGB picture.
        masks: One (rows, cols) bool mask or a list of them (one per instance).
        boxes: One box ``(x0, y0, x1, y1)`` in pixel edges or a list of them.
    """
    from scipy import ndimage

    pixels = np.asarray(picture, np.float32)
    grey = _window(pixels) * 255
    rgb = (grey if grey.ndim == 3 else grey[..., None].repeat(3, -1)).astype(np.uint8)
    masks = [masks] if isinstance(masks, np.ndarray) else masks
    for n, mask in enumerate(masks):
        edge = mask & ~ndimage.binary_erosion(mask, border_value=0)
        rgb[ndimage.binary_dilation(edge) & ~ndimage.binary_erosion(mask, iterations=2)] = \
            INSTANCE_COLOURS[n % len(INSTANCE_COLOURS)]
    boxes = [boxes] if boxes and not isinstance(boxes[0], (tuple, list)) else boxes
    picture_out = PILImage.fromarray(rgb)
    draw = ImageDraw.Draw(picture_out)
    for x0, y0, x1, y1 in boxes:  # type: ignore[misc]
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=(255, 230, 0), width=max(1, min(rgb.shape[:2]) // 200))
    return np.asarray(picture_out)


def save_overlay_2d(picture: np.ndarray, masks: np.ndarray | list[np.ndarray],
                    boxes: list[tuple[float, float, float, float]], path: str | os.PathLike[str]) -> Path:
    """Write :func:`overlay_2d` as a PNG (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        PILImage.fromarray(overlay_2d(picture, masks, boxes)).save(tmp, format="PNG")
    return path
