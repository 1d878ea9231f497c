"""A found lesion's outline on the scan grid: half the lesion's contrast, only where the network found it."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from voxelprompt.vision import lesion_outline
from voxelprompt.vision.lesion_outline import outline_on_scan_grid
from voxelprompt.vision.lesion_residual import from_working_grid, to_working_grid


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_outline_follows_the_lesion_on_a_fine_anisotropic_grid_and_starts_no_new_one():
    rng = np.random.default_rng(3)
    spacing = np.array([0.75, 0.75, 2.0])
    shape = (80, 80, 30)
    g = np.indices(shape) * spacing[:, None, None, None]
    lesion = (((g - np.array([30.0, 30.0, 30.0])[:, None, None, None]) / np.array([6.0, 4.0, 5.0])[:, None, None, None])
              ** 2).sum(0) <= 1
    other = ((g - np.array([30.0, 37.6, 30.0])[:, None, None, None]) ** 2).sum(0) <= 2.6  # near, not found
    tissue = 0.6 + 0.002 * g[0]  # a gentle gradient the expected image carries
    scan = tissue + 0.3 * lesion + 0.3 * other + rng.normal(0, 0.02, shape)
    expected = to_working_grid(tissue.astype(np.float32), spacing)
    found = ndimage.binary_dilation(to_working_grid(lesion.astype(np.float32), spacing) > 0.5)  # one voxel too far
    prob = np.where(found, 0.9, 0.05).astype(np.float32)
    mask = outline_on_scan_grid(scan.astype(np.float32), expected, prob, found, spacing)
    resampled = from_working_grid(found.astype(np.float32), spacing, shape) >= 0.5
    assert _dice(mask, lesion) > 0.95 and _dice(resampled, lesion) < 0.85
    assert not (mask & other).any()
    assert not outline_on_scan_grid(scan.astype(np.float32), expected, prob, np.zeros_like(found), spacing).any()


def test_outline_keeps_the_middle_of_a_lesion_the_expected_image_partly_absorbed(monkeypatch):
    rng = np.random.default_rng(4)
    spacing = np.array([1.0, 1.0, 1.0])
    shape = (60, 60, 60)
    g = np.indices(shape) * spacing[:, None, None, None]
    r = np.sqrt((((g - 30.0) / np.array([9.0, 7.0, 8.0])[:, None, None, None]) ** 2).sum(0))
    lesion = r <= 1
    tissue = 0.6 + 0.002 * g[0]
    scan = tissue - 0.3 * lesion + rng.normal(0, 0.02, shape)  # a dark lesion
    # the alignment bent darker anatomy into the lesion's middle: the expected image is dark there too
    expected = to_working_grid((tissue - 0.3 * (r <= 0.8)).astype(np.float32), spacing)
    found = to_working_grid(lesion.astype(np.float32), spacing) > 0.5
    prob = np.where(found, 0.9, 0.05).astype(np.float32)
    mask = outline_on_scan_grid(scan.astype(np.float32), expected, prob, found, spacing)
    assert _dice(mask, lesion) > 0.95
    monkeypatch.setattr(lesion_outline, "EXPECTED_WEIGHT", 1.0)  # measured from the whole expected image
    whole = outline_on_scan_grid(scan.astype(np.float32), expected, prob, found, spacing)
    assert _dice(whole, lesion) < 0.8  # the middle is lost
