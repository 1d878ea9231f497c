"""Lesions painted on the working grid: inside the tissue, visible, and nowhere else."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from voxelprompt.vision.lesion_synth import STEP, paint_lesions_working


def _head(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A ball of white matter (2) in a shell of cortex (1000), thalamus (10) at its centre, and a scan of it."""
    r = np.sqrt(((np.indices((n, n, n)) - (n - 1) / 2) ** 2).sum(0))
    labels = np.zeros((n, n, n), np.int16)
    labels[r < 20] = 1000
    labels[r < 15] = 2
    labels[r < 4] = 10
    rng = np.random.default_rng(0)
    scan = np.select([labels == 2, labels == 1000, labels == 10], [0.9, 0.5, 0.7], 0.0)
    return labels, (scan + rng.normal(0, 0.01, scan.shape)).astype(np.float32)


def test_painted_lesions_lie_in_the_brain_stand_out_and_change_nothing_far_away():
    labels, scan = _head()
    brain = labels > 0
    spread = float(np.subtract(*np.percentile(scan[brain], [99, 1])))
    kinds = set()
    for seed in range(12):
        out, mask, kind = paint_lesions_working(np.random.default_rng(seed), scan, labels)
        kinds.add(kind)
        assert out.shape == scan.shape and out.dtype == np.float32
        if not mask.any():
            continue
        assert not (mask & ~brain).any()
        core = ndimage.binary_erosion(mask)
        if core.any():  # away from the soft edge at least most of the least step shows
            assert np.median(np.abs(out - scan)[core]) >= 0.7 * STEP[0] * spread * 0.9
        far = ~ndimage.binary_dilation(mask, iterations=4)
        assert np.abs(out - scan)[far].max() < 1e-3
    assert kinds == {"white-matter lesions", "tumour", "infarct"}


def test_the_same_seed_paints_the_same_lesions():
    labels, scan = _head()
    a = paint_lesions_working(np.random.default_rng(3), scan, labels)
    b = paint_lesions_working(np.random.default_rng(3), scan, labels)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_labels_without_the_drawn_tissue_paint_nothing_rather_than_fail():
    labels, scan = _head()
    csf_only = np.where(labels > 0, 24, 0).astype(np.int16)  # brain, but no white matter, cortex or deep grey
    for seed in range(6):
        out, mask, _ = paint_lesions_working(np.random.default_rng(seed), scan, csf_only)
        assert not mask.any() and np.array_equal(out, scan)
