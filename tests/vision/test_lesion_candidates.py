"""Lesion candidates: their features and the judge that keeps or drops them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxelprompt.errors import InputFileError
from voxelprompt.vision.lesion_candidates import (
    FEATURES,
    CandidateJudge,
    candidate_features,
    candidates,
    load_judge,
)
from voxelprompt.vision.lesion_residual import CHANNELS, WORK_MM

SHAPE = (40, 40, 40)


def _ball(centre, radius) -> np.ndarray:
    g = np.indices(SHAPE).astype(float)
    return ((g - np.asarray(centre, float)[:, None, None, None]) ** 2).sum(0) <= radius ** 2


def _scene():
    """A lone bright ball (lesion-like) and a thin bright slab (boundary-like), with their channels and prob."""
    rng = np.random.default_rng(0)
    ball = _ball((12, 20, 20), 4)
    slab = np.zeros(SHAPE, bool)
    slab[24:26, 8:32, 8:32] = True
    ch = np.zeros((len(CHANNELS), *SHAPE), np.float32)
    ch[CHANNELS.index("brain")] = 1
    ch[CHANNELS.index("brain"), :2] = 0
    ch[CHANNELS.index("white matter")] = ball
    residual = rng.normal(0, 0.01, SHAPE) + 0.2 * ball + 0.05 * slab
    ch[CHANNELS.index("residual")] = residual
    ch[CHANNELS.index("asymmetry")] = 0.2 * ball  # the slab is on both sides alike
    ch[CHANNELS.index("expected")] = 0.5
    prob = np.where(ball | slab, 0.9, 0.0).astype(np.float32)
    prob[30:31, 30:31, 30:32] = 0.9  # two voxels: below any smallest lesion
    return ch, prob, ball, slab


def test_candidates_drop_small_components_and_number_the_rest_from_one():
    _, prob, ball, slab = _scene()
    lbl, n = candidates(prob, 0.5, 0.1)
    assert n == 2
    assert sorted(np.unique(lbl)) == [0, 1, 2]
    assert set(np.unique(lbl[ball])) == {1} and set(np.unique(lbl[slab])) == {2}
    assert candidates(prob, 0.95, 0.1)[1] == 0


def test_features_tell_a_lone_round_lesion_from_a_symmetric_thin_slab():
    ch, prob, ball, _ = _scene()
    lbl, n = candidates(prob, 0.5, 0.1)
    f = candidate_features(ch, prob, lbl, n)
    col = {name: f[:, i] for i, name in enumerate(FEATURES)}
    assert f.shape == (2, len(FEATURES))
    assert col["log volume"][0] == pytest.approx(np.log(ball.sum() * WORK_MM ** 3 / 1000))
    assert col["contrast"][0] == pytest.approx(0.2 / 0.01, rel=0.3)  # in units of the residual noise
    assert col["asymmetry"][0] == pytest.approx(1.0, abs=0.1) and col["asymmetry"][1] == pytest.approx(0.0, abs=0.1)
    assert col["fill"][0] > 0.9 and col["elongation"][0] > 0.9
    assert col["elongation"][1] < 0.2
    assert col["white matter"][0] == 1.0 and col["white matter"][1] == 0.0
    assert col["coherence"][0] == pytest.approx(1.0, abs=0.01)


def test_judge_keeps_what_its_coefficients_favour_and_reports_every_candidate():
    ch, prob, ball, _ = _scene()
    coef = np.zeros(len(FEATURES))
    coef[FEATURES.index("asymmetry")] = 5.0
    judge = CandidateJudge(np.full(len(FEATURES), 0.5), np.ones(len(FEATURES)), coef, 0.0, 0.5,
                           {"threshold": 0.5, "min_ml": 0.1})
    mask, rows = judge.lesions(ch, prob)
    assert np.array_equal(mask, ball)
    assert [r["kept"] for r in rows] == [True, False]
    assert rows[0]["judge_probability"] > 0.9 > 0.1 > rows[1]["judge_probability"]


def test_judge_round_trips_through_json_and_bad_files_fail_clearly(tmp_path):
    judge = CandidateJudge(np.arange(len(FEATURES), dtype=float), np.ones(len(FEATURES)),
                           np.linspace(-1, 1, len(FEATURES)), 0.25, 0.4, {"threshold": 0.3, "min_ml": 0.2})
    path = tmp_path / "judge.json"
    path.write_text(json.dumps(judge.to_json()))
    back = load_judge(path)
    x = np.random.default_rng(1).normal(size=(5, len(FEATURES)))
    assert np.allclose(back.probability(x), judge.probability(x))
    assert (back.threshold, back.min_ml, back.cutoff) == (0.3, 0.2, 0.4)
    wrong = {**judge.to_json(), "features": ["log volume"]}
    path.write_text(json.dumps(wrong))
    with pytest.raises(InputFileError, match="features"):
        load_judge(path)
    path.write_text("{not json")
    with pytest.raises(InputFileError, match="cannot read"):
        load_judge(path)
