"""Synthetic ultrasound-like 2D scenes with a known lesion mask, for training and evaluation.

A scene is built the way a B-mode image forms: a tissue echogenicity map (smooth texture and
wavy layers), one irregular lesion (dark or bright, weak contrast, textured inside, soft edges),
distractor blobs of similar echogenicity and dark vessels, posterior shadowing or enhancement
under the lesion, acoustic shadow columns, depth attenuation, then correlated Rayleigh
speckle (softened as spatial compounding does) and log compression. The box is the lesion's
bounding box widened by a random margin, as a user would draw it.

Arrays are (rows, cols) = (y, x); boxes are ``(x0, y0, x1, y1)`` pixel edges, so a box covers
columns ``x0 .. x1 - 1`` and rows ``y0 .. y1 - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from voxelprompt.vision.classical import mask_box, pad_box

Box = tuple[int, int, int, int]


@dataclass
class Scene:
    """One synthetic scene.

    Attributes:
        image: (rows, cols) uint8 picture.
        mask: (rows, cols) bool lesion mask.
        box: The prompt box ``(x0, y0, x1, y1)`` in pixel edges.
        polarity: ``"dark"`` or ``"bright"`` lesion.
        seed: The seed that reproduces it.
    """

    image: np.ndarray
    mask: np.ndarray
    box: Box
    polarity: str
    seed: int


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale_px: float) -> np.ndarray:
    """Zero-mean, unit-std random field with features about ``scale_px`` pixels wide."""
    small = (max(2, int(shape[0] / scale_px) + 2), max(2, int(shape[1] / scale_px) + 2))
    field = ndi.zoom(rng.standard_normal(small), (shape[0] / small[0], shape[1] / small[1]), order=3)
    field = field[: shape[0], : shape[1]]
    if field.shape != shape:
        field = np.pad(field, [(0, shape[0] - field.shape[0]), (0, shape[1] - field.shape[1])], mode="edge")
    return (field - field.mean()) / (field.std() + 1e-6)


def irregular_blob(rng: np.random.Generator, shape: tuple[int, int], centre: tuple[float, float],
                   radius: float, *, irregularity: float = 1.0, aspect: float = 1.0) -> np.ndarray:
    """A star-shaped blob: radius varying smoothly with angle (lobulated, sometimes spiculated)."""
    yy, xx = np.mgrid[0: shape[0], 0: shape[1]].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    dy, dx = yy - centre[0], xx - centre[1]
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) * aspect
    rr, theta = np.hypot(u, v), np.arctan2(v, u)
    profile = np.ones_like(theta)
    for k in range(2, 9):
        profile += irregularity * rng.uniform(0, 0.22) / k ** 0.6 * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.25 * irregularity:  # a few spicules
        for _ in range(rng.integers(3, 9)):
            at = rng.uniform(-np.pi, np.pi)
            profile += rng.uniform(0.1, 0.35) * np.exp(-(np.angle(np.exp(1j * (theta - at))) ** 2) / 0.004)
    return rr < radius * profile


def _box_around(mask: np.ndarray, rng: np.random.Generator, max_margin: float) -> Box:
    box = mask_box(mask)
    w, h = box[2] - box[0], box[3] - box[1]

    def pad(extent: int) -> int:  # a negative margin draws boxes that cut the lesion
        return round(rng.uniform(min(0.0, max_margin), max(0.0, max_margin)) * extent
                     + np.sign(max_margin) * rng.uniform(0, 4))

    margins = [pad(w), pad(h), pad(w), pad(h)]  # drawn left, top, right, bottom, as the seeds expect
    return tuple(int(v) for v in pad_box(box, margins, mask.shape))  # type: ignore[return-value]


def ultrasound_scene(seed: int, *, shape: tuple[int, int] | None = None, max_box_margin: float = 0.12) -> Scene:
    """Draw one scene; the same seed always gives the same scene.

    Args:
        seed: Random seed.
        shape: (rows, cols); random between 224 and 352 pixels a side if not given.
        max_box_margin: Largest margin added to each side of the lesion's bounding box, as a
            fraction of the lesion's extent; a negative value moves the sides inwards instead.

    Returns:
        The scene.
    """
    rng = np.random.default_rng(seed)
    if shape is None:
        shape = (int(rng.integers(224, 353)), int(rng.integers(224, 353)))
    h, w = shape
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)

    tissue = 0.5 + 0.12 * smooth_field(rng, shape, rng.uniform(10, 40))
    for _ in range(rng.integers(1, 4)):  # wavy layer boundaries (skin, fat, muscle)
        depth = rng.uniform(0.05, 0.45) * h + 6 * smooth_field(rng, (1, w), 40)[0]
        tissue += rng.uniform(-0.15, 0.15) * (yy > depth[None, :])
    tissue += 0.08 * smooth_field(rng, shape, rng.uniform(2, 5))
    tissue = np.clip(tissue, 0.15, None)

    size = min(h, w)
    radius = rng.uniform(0.06, 0.17) * size
    centre = (rng.uniform(0.3, 0.75) * h, rng.uniform(0.25, 0.75) * w)
    lesion = irregular_blob(rng, shape, centre, radius, aspect=rng.uniform(0.6, 1.5),
                            irregularity=rng.uniform(0.5, 1.6))
    polarity = "dark" if rng.random() < 0.65 else "bright"
    factor = rng.uniform(0.3, 0.65) if polarity == "dark" else rng.uniform(1.5, 2.2)
    inside = factor * np.clip(1 + rng.uniform(0.1, 0.3) * smooth_field(rng, shape, rng.uniform(2, 6)), 0.3, None)

    echo = tissue.copy()
    for _ in range(rng.integers(1, 4)):  # distractors of similar brightness, some close by
        near = rng.random() < 0.5
        c = (np.clip(centre[0] + rng.normal(0, 2.2 * radius), 0, h) if near else rng.uniform(0, h),
             np.clip(centre[1] + rng.normal(0, 2.2 * radius), 0, w) if near else rng.uniform(0, w))
        blob = irregular_blob(rng, shape, c, rng.uniform(0.3, 0.9) * radius, irregularity=0.7,
                              aspect=rng.uniform(0.5, 2.0)) & ~ndi.binary_dilation(lesion, iterations=3)
        soft = ndi.gaussian_filter(blob.astype(np.float32), rng.uniform(0.8, 2.0))
        echo *= 1 + soft * (factor * rng.uniform(0.85, 1.15) - 1)
    for _ in range(rng.integers(0, 3)):  # dark vessels, roughly horizontal
        row = rng.uniform(0.1, 0.95) * h + 10 * smooth_field(rng, (1, w), 60)[0]
        half = rng.uniform(2, 7)
        vessel = np.abs(yy - row[None, :]) < half
        echo *= 1 - 0.7 * ndi.gaussian_filter(vessel.astype(np.float32), 1.0)

    soft_lesion = ndi.gaussian_filter(lesion.astype(np.float32), rng.uniform(0.7, 2.5))
    echo = echo * (1 - soft_lesion) + tissue * inside * soft_lesion

    cols = np.nonzero(lesion.any(axis=0))[0]
    below = yy > centre[0] + radius * 0.5
    column = np.zeros(w, np.float32)
    column[cols.min(): cols.max() + 1] = 1
    column = ndi.gaussian_filter1d(column, rng.uniform(2, 8))
    posterior = rng.choice([0.55, 0.75, 1.0, 1.3, 1.5]) if rng.random() < 0.7 else 1.0
    echo *= 1 + (posterior - 1) * below * column[None, :]
    for _ in range(rng.integers(0, 3)):  # shadows behind calcifications or ribs
        x = rng.uniform(0, w)
        top = rng.uniform(0, 0.7) * h
        width = rng.uniform(4, 25)
        shade = np.exp(-0.5 * ((np.arange(w) - x) / width) ** 2)[None, :] * (yy > top)
        echo *= 1 - rng.uniform(0.3, 0.7) * shade

    echo *= np.exp(-rng.uniform(0.2, 1.4) * yy / h)  # attenuation not fully compensated
    sy, sx = rng.uniform(0.6, 1.4), rng.uniform(1.0, 2.5)
    speckle = np.hypot(ndi.gaussian_filter(rng.standard_normal(shape), (sy, sx)),
                       ndi.gaussian_filter(rng.standard_normal(shape), (sy, sx)))
    speckle = (speckle / speckle.mean()) ** rng.uniform(0.45, 0.9)  # compounding softens speckle
    signal = echo * speckle
    k = rng.uniform(10, 40)
    picture = np.log1p(k * signal) / np.log1p(k * np.percentile(signal, 99.5))
    picture += rng.normal(0, 0.02, shape)
    image = np.clip(picture * rng.uniform(180, 250), 0, 255).astype(np.uint8)
    return Scene(image, lesion, _box_around(lesion, rng, max_box_margin), polarity, seed)
