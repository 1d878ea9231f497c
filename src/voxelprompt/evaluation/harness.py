"""Run an engine over synthetic cases and score it: Dice, HD95, NSD per structure, time per case."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from voxelprompt.concepts import ConceptRef, default_matcher, load_vocabulary
from voxelprompt.engines import Engine
from voxelprompt.evaluation.cases import Case, make_case
from voxelprompt.evaluation.parallel import EngineFactory, run_settings, score_cases
from voxelprompt.measure.overlap import overlap_metrics

DEFAULT_STRUCTURES = tuple(f"{side} {name}" for name in (
    "thalamus", "putamen", "hippocampus", "lateral ventricle", "cerebral white matter", "cerebellar cortex")
    for side in ("left", "right"))
DEFAULT_TEMPLATES = ("icbm2009c-brain", "mni152-fsl-brain")


@dataclass
class CaseResult:
    case: str
    description: dict
    seconds: float
    scores: dict[str, dict[str, float]] = field(default_factory=dict)


def truth_mask(case: Case, ref: ConceptRef) -> np.ndarray:
    ids = load_vocabulary().labels(ref, "freesurfer")
    return np.isin(np.asarray(case.labels.array), ids)


def evaluate_case(engine: Engine, case: Case, concepts: list[ConceptRef], tolerance_mm: float = 1.0) -> CaseResult:
    start = time.perf_counter()
    masks = {ref.name: engine.segment([case.image], ref).mask.array for ref in concepts}
    seconds = time.perf_counter() - start
    result = CaseResult(case.name, case.description, seconds)
    for ref in concepts:
        m = overlap_metrics(np.asarray(masks[ref.name], bool), truth_mask(case, ref), case.image,
                            tolerance_mm=tolerance_mm)
        result.scores[ref.name] = {"dice": m["dice"].value, "hd95_mm": m["hd95"].value, "nsd": m["nsd"].value}
    return result


def run_eval(engine: Engine, seeds: Iterable[int], *, templates: tuple[str, ...] = DEFAULT_TEMPLATES,
             structures: tuple[str, ...] = DEFAULT_STRUCTURES, tolerance_mm: float = 1.0,
             progress: Callable[[str], None] | None = None, jobs: int = 1,
             engine_factory: EngineFactory | None = None) -> dict:
    """Evaluate ``engine`` on one case per (seed, template); returns the JSON-ready report.

    ``jobs`` > 1 scores that many cases at a time in worker processes, each building its engine
    with ``engine_factory`` (``evaluation.parallel``); ``progress`` gets each case's name once scored.
    """
    matcher = default_matcher()
    refs = []
    for text in structures:
        match = matcher.match(text)
        if match.status != "matched" or match.ref is None:
            raise ValueError(f"structure '{text}' is not a known concept")
        refs.append(match.ref)
    task = partial(_score_planned_case, concepts=refs, tolerance_mm=tolerance_mm)
    done = (lambda result: progress(result.case)) if progress else None
    results = score_cases(task, planned_cases(seeds, templates), engine, engine_factory=engine_factory,
                          jobs=jobs, done=done)
    report = summarise(engine.name, results, [r.name for r in refs], tolerance_mm)
    return {**report, **run_settings(jobs)}


def _score_planned_case(engine: Engine, planned: tuple[int, str], concepts: list[ConceptRef],
                        tolerance_mm: float) -> CaseResult:
    return evaluate_case(engine, make_case(*planned), concepts, tolerance_mm)


def planned_cases(seeds: Iterable[int], templates: tuple[str, ...]) -> list[tuple[int, str]]:
    """(case seed, template) of every case that ``run_eval`` builds for ``seeds`` and ``templates``."""
    return [(seed * 10 + k, name) for seed in seeds for k, name in enumerate(templates)]


def check_comparable(other: dict, seeds: Iterable[int], templates: tuple[str, ...], structures: Iterable[str]) -> None:
    """Raise ``ValueError`` unless the saved report ``other`` scored the cases and structures planned here."""
    if [(c.get("seed"), c.get("template")) for c in other["cases"]] != planned_cases(seeds, templates):
        raise ValueError("the two reports are not on the same cases")
    matcher = default_matcher()
    known = {ref.name for ref in (matcher.match(s).ref for s in structures) if ref is not None}
    missing = sorted(known - set(other["structures"]))
    if missing:
        raise ValueError(f"the other report does not score {', '.join(missing)}")


def summarise(engine: str, results: list[CaseResult], structures: list[str], tolerance_mm: float) -> dict:
    per_structure = {}
    for s in structures:
        vals = {m: [r.scores[s][m] for r in results] for m in ("dice", "hd95_mm", "nsd")}
        per_structure[s] = {m: float(np.nanmean(v)) for m, v in vals.items()}
    dices = [r.scores[s]["dice"] for r in results for s in structures]
    times = [r.seconds for r in results]
    return {
        "engine": engine,
        "cases": [{"case": r.case, **r.description, "seconds": round(r.seconds, 2),
                   "mean_dice": float(np.mean([v["dice"] for v in r.scores.values()])), "scores": r.scores}
                  for r in results],
        "structures": per_structure,
        "mean_dice": float(np.mean(dices)) if dices else None,
        "median_seconds_per_case": float(np.median(times)) if times else None,
        "nsd_tolerance_mm": tolerance_mm,
    }


def compare_reports(report: dict, other: dict) -> dict:
    """``report`` with a ``comparison`` against ``other`` (another engine on the same cases)."""
    if [c["case"] for c in report["cases"]] != [c["case"] for c in other["cases"]]:
        raise ValueError("the two reports are not on the same cases")
    missing = sorted(set(report["structures"]) - set(other["structures"]))
    if missing:
        raise ValueError(f"the other report does not score {', '.join(missing)}")
    structures = list(report["structures"])
    per = {s: {"dice": v["dice"], "other_dice": other["structures"][s]["dice"],
               "difference": v["dice"] - other["structures"][s]["dice"]}
           for s, v in report["structures"].items()}
    # a saved report may score more structures: its means are taken over this report's structures
    case_dice = [[c["scores"][s]["dice"] for s in structures] for c in other["cases"]]
    other_mean = float(np.mean(case_dice))
    return {**report, "comparison": {
        "other_engine": other["engine"], "other_mean_dice": other_mean,
        "other_median_seconds_per_case": other["median_seconds_per_case"],
        "mean_dice_difference": report["mean_dice"] - other_mean,
        "structures": per, "better": [s for s, v in per.items() if v["difference"] > 0],
        "other_cases": [{"case": c["case"], "seconds": c["seconds"], "mean_dice": float(np.mean(d))}
                        for c, d in zip(other["cases"], case_dice)]}}
