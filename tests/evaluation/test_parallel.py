"""Cases scored in worker processes: the same results, in the same order, as in one process."""

from __future__ import annotations

from functools import partial

import pytest

from tests.evaluation.test_lesions import _Constant
from voxelprompt.evaluation.lesions import run_lesion_eval
from voxelprompt.evaluation.parallel import score_cases, threads_per_job


def _square_of_item(engine, item: int) -> tuple[str, int]:
    return engine.name, item * item


def _fails_on_three(engine, item: int) -> int:
    if item == 3:
        raise ValueError("case 3 is broken")
    return item


def test_workers_return_results_in_the_order_of_the_items():
    items = [5, 1, 4, 2, 3]
    serial = score_cases(_square_of_item, items, _Constant(False))
    arrived = []
    parallel = score_cases(_square_of_item, items, _Constant(False), engine_factory=partial(_Constant, True), jobs=2,
                           done=arrived.append)
    assert serial == [("nowhere", 25), ("nowhere", 1), ("nowhere", 16), ("nowhere", 4), ("nowhere", 9)]
    # each worker built its own engine with the factory
    assert parallel == [("everywhere", 25), ("everywhere", 1), ("everywhere", 16), ("everywhere", 4),
                        ("everywhere", 9)]
    assert sorted(arrived) == sorted(parallel)


def test_a_failing_case_fails_the_run_with_its_own_error():
    with pytest.raises(ValueError, match="case 3 is broken"):
        score_cases(_fails_on_three, [1, 2, 3, 4], _Constant(False), engine_factory=partial(_Constant, False), jobs=2)


def test_jobs_must_be_positive_and_several_need_a_factory():
    with pytest.raises(ValueError, match="at least 1"):
        score_cases(_square_of_item, [1], _Constant(False), jobs=0)
    with pytest.raises(ValueError, match="engine_factory"):
        score_cases(_square_of_item, [1, 2], _Constant(False), jobs=2)
    assert threads_per_job(1) >= threads_per_job(2) >= 1


def test_the_lesion_harness_gives_the_same_report_with_two_jobs():
    templates = ("mni152-fsl-brain",)
    one = run_lesion_eval(_Constant(True), [2], templates=templates)
    two = run_lesion_eval(_Constant(True), [2], templates=templates, jobs=2, engine_factory=partial(_Constant, True))
    for report in (one, two):
        for row in report["lesion_cases"]:
            row.pop("seconds")
    assert two["jobs"] == 2 and one["jobs"] == 1
    assert [r["case"] for r in two["lesion_cases"]] == [r["case"] for r in one["lesion_cases"]]
    assert {k: v for k, v in two.items() if k not in ("jobs", "threads_per_job")} == \
        {k: v for k, v in one.items() if k not in ("jobs", "threads_per_job")}
    assert len(two["lesion_free_cases"]) == 1 and two["absent_rate_lesion_free"] == 0.0
