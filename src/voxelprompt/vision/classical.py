"""Classical box-prompted segmentation: a smoothed Otsu threshold inside the box.

It is the baseline the learned segmenter must beat, and the fallback when no weights load.
Arrays are (rows, cols); boxes are ``(x0, y0, x1, y1)`` pixel edges.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

Box = tuple[int, int, int, int]


def clip_box(box: tuple[float, float, float, float], shape: tuple[int, int]) -> Box:
    """Round a box to whole pixel edges inside an image of ``shape`` (rows, cols); at least 2x2."""
    x0, y0, x1, y1 = (round(v) for v in box)
    x0, x1 = sorted((min(max(x0, 0), shape[1]), min(max(x1, 0), shape[1])))
    y0, y1 = sorted((min(max(y0, 0), shape[0]), min(max(y1, 0), shape[0])))
    return x0, y0, max(x1, x0 + 2), max(y1, y0 + 2)


SIDES = ("left", "top", "right", "bottom")


def mask_box(mask: np.ndarray) -> Box:
    """The bounding box of a non-empty (rows, cols) mask, in pixel edges."""
    rows, cols = np.nonzero(mask)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def pad_box(box: tuple[float, float, float, float], margins_px: tuple[float, float, float, float] | np.ndarray,
            shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """Move the (left, top, right, bottom) sides out by ``margins_px`` (in if negative), inside the picture."""
    x0, y0, x1, y1 = box
    left, top, right, bottom = (float(m) for m in margins_px)
    return (max(0.0, float(x0) - left), max(0.0, float(y0) - top), min(float(shape[1]), float(x1) + right),
            min(float(shape[0]), float(y1) + bottom))


def widen_box(box: tuple[float, float, float, float], fraction: float, shape: tuple[int, int],
              sides: tuple[str, ...] | list[str] = SIDES) -> tuple[float, float, float, float]:
    """Move the named sides out by ``fraction`` of the box's size (in if negative), inside the picture."""
    dx, dy = fraction * (box[2] - box[0]), fraction * (box[3] - box[1])
    return pad_box(box, [d if side in sides else 0.0 for side, d in zip(SIDES, (dx, dy, dx, dy))], shape)


def smoothed_crop(image: np.ndarray, box: Box, sigma_px: float) -> np.ndarray:
    """The box of the Gaussian-smoothed picture, filtering only the box and the kernel's reach around it.

    The values equal those of smoothing the whole picture (same kernel, same edge reflection).
    """
    reach = int(4.0 * sigma_px + 0.5)  # scipy's kernel radius at its default truncate=4
    x0, y0, x1, y1 = box
    top, left = max(y0 - reach, 0), max(x0 - reach, 0)
    part = np.asarray(image[top: min(y1 + reach, image.shape[0]), left: min(x1 + reach, image.shape[1])],
                      np.float32)
    smooth = ndi.gaussian_filter(part, sigma_px)
    return smooth[y0 - top: y1 - top, x0 - left: x1 - left]


def component_nearest_centre(mask: np.ndarray) -> np.ndarray:
    """The connected component of ``mask`` nearest the array centre, holes filled."""
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    centre = np.array(mask.shape) / 2
    best, best_score = 1, -np.inf
    sizes = ndi.sum_labels(mask, labels, range(1, n + 1))
    for lab, size in enumerate(sizes, start=1):
        com = np.array(ndi.center_of_mass(labels == lab))
        score = size / mask.size - np.linalg.norm((com - centre) / np.array(mask.shape))
        if score > best_score:
            best, best_score = lab, score
    return ndi.binary_fill_holes(labels == best)


def otsu_in_box(image: np.ndarray, box: tuple[float, float, float, float], *, sigma_px: float = 2.0) -> np.ndarray:
    """Smooth, threshold the box with Otsu, keep the class that touches the box edge least.

    Args:
        image: (rows, cols) grayscale picture.
        box: ``(x0, y0, x1, y1)`` in pixel edges.
        sigma_px: Gaussian smoothing in pixels before thresholding.

    Returns:
        (rows, cols) bool mask, empty outside the box.
    """
    x0, y0, x1, y1 = clip_box(box, image.shape)
    crop = smoothed_crop(image, (x0, y0, x1, y1), sigma_px)
    out = np.zeros(image.shape, bool)
    if np.ptp(crop) == 0:
        return out
    high = crop > threshold_otsu(crop)
    edge = np.ones(crop.shape, bool)
    edge[1:-1, 1:-1] = False
    chosen = high if high[edge].mean() < (~high)[edge].mean() else ~high
    out[y0:y1, x0:x1] = component_nearest_centre(chosen)
    return out


GAUSSIAN_SEPARABILITY = 2 / np.pi  # Otsu's separability of pure Gaussian noise


def box_separability(image: np.ndarray, box: tuple[float, float, float, float], *, sigma_px: float = 2.0) -> float:
    """How clearly the smoothed box splits in two classes, from 0 (noise) to 1 (two flat levels).

    Otsu's separability (between-class over total variance) is 2/pi for Gaussian noise and 1 for a
    two-level picture; it is rescaled so that noise gives 0.
    """
    crop = smoothed_crop(image, clip_box(box, image.shape), sigma_px)
    if np.ptp(crop) == 0:
        return 0.0
    high = crop > threshold_otsu(crop)
    w1 = high.mean()
    if w1 in (0.0, 1.0):
        return 0.0
    between = w1 * (1 - w1) * (crop[high].mean() - crop[~high].mean()) ** 2
    eta = between / crop.var()
    return float(np.clip((eta - GAUSSIAN_SEPARABILITY) / (1 - GAUSSIAN_SEPARABILITY), 0, 1))


def box_from_point(image: np.ndarray, point: tuple[float, float], window: tuple[float, float, float, float], *,
                   sigma_px: float = 2.0, margin: float = 0.15) -> tuple[float, float, float, float]:
    """A box around the object under ``point``: the smoothed Otsu class of the point, its component.

    The component holding the point (within ``window``) is boxed and widened by ``margin`` of its
    size; when it is a speck or fills most of the window, the window itself is returned.
    """
    x0, y0, x1, y1 = clip_box(window, image.shape)
    crop = smoothed_crop(image, (x0, y0, x1, y1), sigma_px)
    px, py = int(np.clip(point[0] - x0, 0, crop.shape[1] - 1)), int(np.clip(point[1] - y0, 0, crop.shape[0] - 1))
    if np.ptp(crop) == 0:
        return float(x0), float(y0), float(x1), float(y1)
    high = crop > threshold_otsu(crop)
    same = ndi.binary_opening(high if high[py, px] else ~high, iterations=2)
    labels, _ = ndi.label(same)
    if labels[py, px] == 0 or not 0.002 < (labels == labels[py, px]).mean() < 0.8:
        return float(x0), float(y0), float(x1), float(y1)
    rows, cols = np.nonzero(labels == labels[py, px])
    h, w = rows.max() + 1 - rows.min(), cols.max() + 1 - cols.min()
    return (max(0.0, x0 + cols.min() - margin * w), max(0.0, y0 + rows.min() - margin * h),
            min(float(image.shape[1]), x0 + cols.max() + 1 + margin * w),
            min(float(image.shape[0]), y0 + rows.max() + 1 + margin * h))
