"""Training samples for the box-prompted segmenter: random boxes and points around one instance.

A sample takes an image and one instance mask, draws a box the way users draw them (usually a
little loose, sometimes tight, now and then far too loose), adds positive and negative points at
random, flips at random, and returns the network input and the soft target at ``INPUT_PX``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from voxelprompt.vision.boxnet import INPUT_PX, cut, network_input, roi_for
from voxelprompt.vision.classical import mask_box, pad_box


def luminance(pixels: np.ndarray) -> np.ndarray:
    """(rows, cols) float32 grayscale of a (rows, cols) or (rows, cols, 3) picture."""
    pixels = np.asarray(pixels, np.float32)
    if pixels.ndim == 3:
        return pixels[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return pixels


def random_box(mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """A user-like box around ``mask``: margins from slightly tight to loose, per side."""
    box = mask_box(mask)
    w, h = box[2] - box[0], box[3] - box[1]
    high = 0.6 if rng.random() < 0.1 else 0.25
    return pad_box(box, rng.uniform(-0.04, high, 4) * np.array([w, h, w, h]) + rng.uniform(0, 3, 4), mask.shape)


def random_points(mask: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator
                  ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Some positive points inside the mask and negative points in the box outside it."""
    positive: list[tuple[float, float]] = []
    negative: list[tuple[float, float]] = []
    if rng.random() < 0.3:
        inner = ndi.binary_erosion(mask, iterations=2)
        rows, cols = np.nonzero(inner if inner.any() else mask)
        for i in rng.choice(len(rows), size=min(len(rows), int(rng.integers(1, 4))), replace=False):
            positive.append((float(cols[i]), float(rows[i])))
    if rng.random() < 0.25:
        x0, y0, x1, y1 = (int(v) for v in box)
        outside = np.zeros(mask.shape, bool)
        outside[y0:y1, x0:x1] = True
        outside &= ~ndi.binary_dilation(mask, iterations=2)
        rows, cols = np.nonzero(outside)
        if len(rows):
            for i in rng.choice(len(rows), size=min(len(rows), int(rng.integers(1, 3))), replace=False):
                negative.append((float(cols[i]), float(rows[i])))
    return positive, negative


def training_sample(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(4, INPUT_PX, INPUT_PX) input and (1, INPUT_PX, INPUT_PX) soft target for one instance."""
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.15:
        image, mask = image[::-1], mask[::-1]
    image = np.ascontiguousarray(image, np.float32)
    mask = np.ascontiguousarray(mask)
    if rng.random() < 0.3:
        low, high = float(image.min()), float(image.max())
        image = low + (high - low) * ((image - low) / max(high - low, 1e-6)) ** rng.uniform(0.6, 1.6)
    box = random_box(mask, rng)
    positive, negative = random_points(mask, box, rng)
    roi = roi_for(box)
    x = network_input(image, roi, box, positive, negative)
    target = torch.from_numpy(cut(mask.astype(np.float32), roi))[None, None]
    target = F.interpolate(target, size=(INPUT_PX, INPUT_PX), mode="area")[0]
    return x, target


def instances(mask: np.ndarray, min_fraction: float = 0.02) -> list[np.ndarray]:
    """Connected components of a mask, dropping specks below ``min_fraction`` of the largest."""
    labels, n = ndi.label(mask)
    if n == 0:
        return []
    sizes = ndi.sum_labels(mask, labels, range(1, n + 1))
    return [labels == i + 1 for i, s in enumerate(sizes) if s >= min_fraction * sizes.max()]
