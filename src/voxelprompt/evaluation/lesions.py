"""Lesion detection on real templates: synthetic lesions painted into evaluation cases.

Each seed gives, per template, one case with lesions (1-5 white-matter lesions of 3-10 mm radius,
or one tumour of 8-20 mm with its oedema) painted into the case's own grid, and one lesion-free
case with another seed. The lesion intensity stands 0.2-0.5 of the brain's intensity range away
from the tissue it replaces (the median there, in the case's contrast), darker or brighter as the
range allows, with noise of 2 % of the range on top, so that every lesion is visible, as a real one
is in the sequence chosen to show it. An engine is asked
for "lesion": the score is the Dice of its mask with the painted lesions, and, on lesion-free
cases, whether it reports the lesion absent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial

import numpy as np
from scipy import ndimage

from voxelprompt.concepts import ConceptRef, default_matcher
from voxelprompt.engines import Engine
from voxelprompt.evaluation.cases import Case, make_case
from voxelprompt.evaluation.harness import DEFAULT_TEMPLATES
from voxelprompt.evaluation.parallel import EngineFactory, run_settings, score_cases
from voxelprompt.measure.overlap import overlap_metrics
from voxelprompt.vision.synth3d import blob
from voxelprompt.volume import Volume

WM_IDS = (2, 41)
HEMISPHERE_IDS = (2, 41, 10, 11, 12, 13, 49, 50, 51, 52)


def paint_lesions(case: Case, seed: int) -> tuple[Case, np.ndarray]:
    """``case`` with synthetic lesions painted into its image, and the lesion mask."""
    rng = np.random.default_rng([seed, 77])
    labels = np.asarray(case.labels.array)
    image = np.asarray(case.image.array, np.float32)
    spacing = np.asarray(case.image.spacing, float)
    wm = np.isin(labels, WM_IDS)
    mask = np.zeros(labels.shape, bool)
    if rng.random() < 0.6:
        places = np.argwhere(ndimage.binary_erosion(wm, iterations=2))
        for _ in range(int(rng.integers(1, 6))):
            centre = places[rng.integers(len(places))].astype(float)
            radii = rng.uniform(3.0, 10.0) * rng.uniform(0.7, 1.3, 3) / spacing
            mask |= blob(rng, labels.shape, centre, radii, 0.3) & wm
        kind = "white-matter lesions"
    else:
        places = np.argwhere(ndimage.binary_erosion(np.isin(labels, HEMISPHERE_IDS), iterations=4))
        centre = places[rng.integers(len(places))].astype(float)
        radii = rng.uniform(8.0, 20.0) * rng.uniform(0.8, 1.2, 3) / spacing
        mask = blob(rng, labels.shape, centre, radii, 0.35) & (labels > 0)
        kind = "tumour"
    brain = labels > 0
    lo, hi = np.percentile(image[brain], [1, 99])
    spread = float(hi - lo)
    around = float(np.median(image[mask])) if mask.any() else float(np.median(image[brain]))
    step = rng.uniform(0.2, 0.5) * spread
    fits = [s for s in (-1.0, 1.0) if lo <= around + s * step <= hi]
    sign = rng.choice(fits) if fits else (1.0 if around - lo < hi - around else -1.0)
    value = around + sign * step
    noise = rng.normal(0, 0.02 * spread, labels.shape).astype(np.float32)
    soft = ndimage.gaussian_filter(mask.astype(np.float32), 0.6)
    painted = (1 - soft) * image + soft * (value + noise)
    desc = {**case.description, "lesions": kind, "lesion_ml": float(mask.sum() * np.prod(spacing) / 1000)}
    return Case(case.name + "-lesion", case.image.with_array(painted.astype(np.float32)), case.labels, desc), mask


def run_lesion_eval(engine: Engine, seeds: Iterable[int], *, templates: tuple[str, ...] = DEFAULT_TEMPLATES,
                    concept: str = "lesion", progress: Callable[[str], None] | None = None, jobs: int = 1,
                    engine_factory: EngineFactory | None = None) -> dict:
    """Dice on painted lesions and the absent rate on lesion-free cases, for ``engine``.

    ``jobs`` and ``engine_factory`` as in ``harness.run_eval``.
    """
    match = default_matcher().match(concept)
    if match.ref is None:
        raise ValueError(f"'{concept}' is not a known concept")
    planned = lesion_plan(seeds, templates)
    done = (lambda row: progress(row["case"])) if progress else None
    rows = score_cases(partial(_score_case, concept=match.ref), planned, engine, engine_factory=engine_factory,
                       jobs=jobs, done=done)
    with_lesions = [row for row, (painted, _, _) in zip(rows, planned) if painted]
    without = [row for row, (painted, _, _) in zip(rows, planned) if not painted]
    dices = [r["dice"] for r in with_lesions]
    return {"engine": engine.name, "concept": match.ref.name, "lesion_cases": with_lesions,
            "lesion_free_cases": without,
            "mean_lesion_dice": float(np.mean(dices)) if dices else None,
            "median_lesion_dice": float(np.median(dices)) if dices else None,
            "lesions_found": float(np.mean([r["present"] for r in with_lesions])) if with_lesions else None,
            "absent_rate_lesion_free": float(np.mean([not r["present"] for r in without])) if without else None,
            **run_settings(jobs)}


def lesion_plan(seeds: Iterable[int], templates: tuple[str, ...] = DEFAULT_TEMPLATES) -> list[tuple[bool, int, str]]:
    """(painted, case seed, template) of every case ``run_lesion_eval`` scores for ``seeds`` and ``templates``."""
    return [(painted, seed * 10 + k, name) for seed in seeds for k, name in enumerate(templates)
            for painted in (True, False)]


def lesion_case(planned: tuple[bool, int, str]) -> tuple[Case, np.ndarray | None]:
    """The case of one ``lesion_plan`` entry and its painted lesions: a case with lesions painted (seed
    ``case_seed``), or the lesion-free case beside it (seed ``case_seed + 5``, no truth mask)."""
    painted, case_seed, name = planned
    if painted:
        return paint_lesions(make_case(case_seed, name), case_seed)
    return make_case(case_seed + 5, name), None


def _score_case(engine: Engine, planned: tuple[bool, int, str], concept: ConceptRef) -> dict:
    """One case's row: a case with painted lesions or the lesion-free one beside it (``lesion_case``)."""
    case, truth = lesion_case(planned)
    if truth is not None:
        start = time.perf_counter()
        seg = engine.segment([case.image], concept)
        m = overlap_metrics(np.asarray(seg.mask.array, bool), truth, case.image, tolerance_mm=2.0)
        return {"case": case.name, "lesions": case.description["lesions"],
                "lesion_ml": round(case.description["lesion_ml"], 2),
                "dice": m["dice"].value, "present": seg.present, "seconds": round(time.perf_counter() - start, 2)}
    seg = engine.segment([case.image], concept)
    return {"case": case.name, "present": seg.present,
            "found_ml": round(float(np.asarray(seg.mask.array).sum()) * _voxel_ml(case.image), 3)}


def _voxel_ml(image: Volume) -> float:
    return float(np.prod(image.spacing)) / 1000.0
