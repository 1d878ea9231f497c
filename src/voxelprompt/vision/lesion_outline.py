"""A found lesion's outline, drawn again on the scan's own grid at half its contrast.

The lesion network decides *where* lesions are on the 1.5 mm working grid; its mask, carried
back onto a finer or anisotropic scan grid, is blurred by that resampling. Here each lesion's
outline is set on the scan grid itself, as a radiologist's threshold tool would: within a few
millimetres of the network's lesion, a voxel belongs to it when it differs from a reference
intensity by at least half as much as the lesion's core does, measured from the level of the
tissue just around it. Pieces that do not touch the network's core are dropped, so the outline
can move but cannot start a new lesion.

The reference is a quarter of the expected (repainted template) image: the alignment bends the
template's anatomy into a lesion it cannot explain, so inside a lesion the expected image takes
on part of the lesion's own contrast, and measured from the whole of it the lesion's middle
looks like tissue. A share of it still carries the anatomy's larger variations around a lesion
(grey and white matter, ventricles), and the local tissue level carries the rest. The scan is
thresholded as it is, not smoothed (noise outside the outline is dropped with the pieces that do
not touch the core). Both settings were chosen on development cases and checked on held-out ones,
where a quarter did better than half and no smoothing better than half a voxel of it
(``benchmarks/README.md``, "The outline's settings").
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from voxelprompt.vision.lesion_residual import WORK_MM, from_working_grid

HALF = 0.5  # the outline sits where the difference reaches this fraction of the core's
GROW = 2  # working-grid voxels (1.5 mm each) the outline may move outwards
EXPECTED_WEIGHT = 0.25  # share of the expected image in the reference (1: all of it, 0: the tissue level only)


def outline_on_scan_grid(scan: np.ndarray, expected: np.ndarray, prob: np.ndarray, kept: np.ndarray,
                         spacing: np.ndarray) -> np.ndarray:
    """Lesion mask on the scan grid.

    ``scan`` is the normalised scan on its own grid; ``expected`` (its repainted template),
    ``prob`` (lesion probability) and ``kept`` (the network's lesions) are on the working grid.
    """
    shape, spacing = scan.shape[:3], np.asarray(spacing, float)
    out = np.zeros(shape, bool)
    grown = ndimage.binary_dilation(kept, iterations=GROW)
    if not grown.any():
        return out
    where = np.argwhere(grown)  # work only within the lesions' bounding box on the scan grid
    lo = np.maximum(np.floor(where.min(0) * WORK_MM / spacing).astype(int) - 2, 0)
    hi = np.minimum(np.ceil(where.max(0) * WORK_MM / spacing).astype(int) + 3, shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))

    def back(work: np.ndarray) -> np.ndarray:
        return from_working_grid(work.astype(np.float32), spacing, tuple(hi - lo), tuple(lo))

    region = back(grown) > 0.5
    core = (back(kept) > 0.5) & (back(prob) >= 0.5) & region
    shell = region & ~(back(ndimage.binary_dilation(kept)) > 0.01)
    diff = scan[box].astype(np.float32) - EXPECTED_WEIGHT * back(expected)
    lbl, n = ndimage.label(region)
    index = np.arange(1, n + 1)
    lesion_level = _medians(diff, lbl, core, index)
    tissue_level = np.nan_to_num(_medians(diff, lbl, shell, index))
    contrast = np.r_[0.0, np.nan_to_num(lesion_level - tissue_level)]  # per region; 0: no core, nothing kept
    sign, level = np.sign(contrast)[lbl], np.r_[0.0, tissue_level][lbl]
    inside = region & (sign * (diff - level) >= HALF * np.abs(contrast)[lbl]) & (contrast[lbl] != 0)
    pieces, _ = ndimage.label(inside)
    touching = np.unique(pieces[inside & core])
    out[box] = np.isin(pieces, touching[touching > 0])
    return out


def _medians(values: np.ndarray, lbl: np.ndarray, where: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Median of ``values`` over ``where`` within each labelled region (NaN where a region has none)."""
    labels = np.where(where, lbl, 0)
    present = np.isin(index, np.unique(labels))
    out = np.full(index.shape, np.nan)
    if present.any():
        out[present] = ndimage.median(values, labels, index[present])
    return out
