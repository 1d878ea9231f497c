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
    smooth = ndi.gaussian_filter(np.asarray(image, np.float32), sigma_px)
    crop = smooth[y0:y1, x0:x1]
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
    x0, y0, x1, y1 = clip_box(box, image.shape)
    crop = ndi.gaussian_filter(np.asarray(image, np.float32), sigma_px)[y0:y1, x0:x1]
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
    crop = ndi.gaussian_filter(np.asarray(image, np.float32), sigma_px)[y0:y1, x0:x1]
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
