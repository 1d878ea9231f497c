"""Synthetic lesions painted on the lesion network's working grid, to train it on many more lesions.

Each training case of the lesion network costs one deformable alignment (about 20 s on 2 CPU
cores); painting lesions into a case that is already aligned costs only the residual channels
again (a few seconds). So a case is stored with its aligned atlas labels and mirror map
(``scripts/train_lesionnet.py data``), and ``paint_lesions_working`` adds new lesions to its scan
channel inside the tissue those labels give; ``residual_channels`` then computes every input
channel again from the painted scan. The alignment did not see these lesions, so cases aligned
with their lesions in place (the evaluation's kind) stay in the training mix.

The lesions are drawn more widely than the evaluation paints them (``evaluation.lesions``):
several white-matter lesions of 1.5-10 mm radius, tumours of 5-22 mm with or without oedema and
a necrotic core of their own intensities, cortical and subcortical infarcts, each darker or
brighter than the tissue it replaces by 0.12-0.55 of the brain's intensity range (an oedema ring
by 0.10-0.55), partly keeping that tissue's texture, with soft edges and noise of its own.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from voxelprompt.vision.lesion_residual import WORK_MM
from voxelprompt.vision.synth3d import CORTEX_RANGE, DEEP_GREY_IDS, WM_IDS, blob

KINDS = {"white-matter lesions": 0.45, "tumour": 0.35, "infarct": 0.20}
STEP = (0.12, 0.55)  # lesion intensity minus the replaced tissue's, in units of the brain's range


def _places(where: np.ndarray, erode: int) -> np.ndarray:
    """Voxels (N, 3) of ``where`` eroded by ``erode`` voxels, or of ``where`` itself when erosion leaves none."""
    inner = ndimage.binary_erosion(where, iterations=erode) if erode else where
    return np.argwhere(inner if inner.any() else where)


def _centre(rng: np.random.Generator, places: np.ndarray) -> np.ndarray | None:
    return places[rng.integers(len(places))].astype(float) if len(places) else None


def _regions(rng: np.random.Generator, labels: np.ndarray) -> tuple[str, list[tuple[np.ndarray, float]]]:
    """The kind drawn, and its regions (mask, least step) on the working grid, outermost first."""
    brain = labels > 0
    wm = np.isin(labels, WM_IDS)
    cortex = (labels >= CORTEX_RANGE[0]) & (labels < CORTEX_RANGE[1])
    tissue = wm | cortex | np.isin(labels, DEEP_GREY_IDS)
    kind = str(rng.choice(list(KINDS), p=list(KINDS.values())))

    def radii(lo_mm: float, hi_mm: float, spread: float) -> np.ndarray:
        return rng.uniform(lo_mm, hi_mm) * rng.uniform(1 - spread, 1 + spread, 3) / WORK_MM

    if kind == "white-matter lesions":
        places, mask = _places(wm, 1), np.zeros(labels.shape, bool)
        for _ in range(int(rng.integers(1, 7))):
            centre = _centre(rng, places)
            if centre is not None:
                mask |= blob(rng, labels.shape, centre, radii(1.5, 10.0, 0.35), 0.3) & wm
        return kind, [(mask, STEP[0])]
    if kind == "tumour":
        centre = _centre(rng, _places(tissue, 3))
        if centre is None:
            return kind, []
        r = radii(5.0, 22.0, 0.25)
        core = blob(rng, labels.shape, centre, r, 0.35) & brain
        out = []
        if rng.random() < 0.5:
            out.append((blob(rng, labels.shape, centre, r * rng.uniform(1.2, 1.8), 0.5) & tissue & ~core, 0.1))
        out.append((core, STEP[0]))
        if rng.random() < 0.4:
            out.append((ndimage.binary_erosion(core, iterations=int(rng.integers(1, 4))), STEP[0]))
        return kind, out
    centre = _centre(rng, _places(cortex | np.isin(labels, DEEP_GREY_IDS), 0))
    if centre is None:
        return kind, []
    return kind, [(blob(rng, labels.shape, centre, radii(4.0, 15.0, 0.4), 0.4) & tissue, STEP[0])]


def paint_lesions_working(rng: np.random.Generator, scan: np.ndarray,
                          labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """``scan`` (working grid) with new lesions painted inside the atlas tissue of ``labels``; their mask; their kind.

    The mask may be empty when the drawn lesion misses the tissue (a tiny lesion at a boundary).
    """
    brain = labels > 0
    lo, hi = np.percentile(scan[brain], [1, 99])
    spread = max(float(hi - lo), 1e-3)
    kind, regions = _regions(rng, labels)
    out = scan.astype(np.float32).copy()
    mask = np.zeros(labels.shape, bool)
    for region, least in regions:
        if not region.any():
            continue
        around = float(np.median(out[region]))
        step = rng.uniform(least, STEP[1]) * spread
        fits = [s for s in (-1.0, 1.0) if lo <= around + s * step <= hi]
        sign = rng.choice(fits) if fits else (1.0 if around - lo < hi - around else -1.0)
        value = around + sign * step
        keep = rng.uniform(0.0, 0.3)  # how much of the replaced tissue's texture shows through
        noise = rng.normal(0.0, rng.uniform(0.005, 0.03) * spread, labels.shape).astype(np.float32)
        soft = ndimage.gaussian_filter(region.astype(np.float32), rng.uniform(0.3, 0.9))
        out += soft * (1 - keep) * (value + noise - out)
        mask |= region
    return out, mask, kind
