"""The rules planner and the agent loop on a synthetic label map: exact numbers, refusals, critic."""

from __future__ import annotations

import numpy as np
import pytest

from tests.program.conftest import VOXEL_ML, synthetic_head
from voxelprompt.agent import Agent, read_request
from voxelprompt.concepts import default_matcher
from voxelprompt.engines.base import Engine, Segmentation
from voxelprompt.engines.labelmap import LabelMapEngine
from voxelprompt.program import ProgramContext, assign_roles


@pytest.fixture
def agent():
    image, labels = synthetic_head()
    context = ProgramContext(assign_roles([("t1", image)]), engines=[LabelMapEngine(labels)])
    return Agent(context)


@pytest.mark.parametrize("text,ops,mentions", [
    ("volume of the left hippocampus", ["volume"], [("hippocampus", "left")]),
    ("Measure the left and right thalamus.", ["volume"], [("thalamus", "left"), ("thalamus", "right")]),
    ("hippocampal asymmetry", ["asymmetry"], [("hippocampus", None)]),
    ("ratio of the rt. caudate to the right putamen", ["ratio"], [("caudate", "right"), ("putamen", "right")]),
    ("How big is the lft thalamus?", ["volume"], [("thalamus", "left")]),
    ("total volume of the hippocampi", ["volume"], [("hippocampus", "both")]),
    ("combined volume of the left and right thalamus", ["volume"], [("thalamus", "both")]),
    ("what proportion of the right putamen is the right caudate", ["ratio"], [("caudate", "right"),
                                                                             ("putamen", "right")]),
    ("surface area of the accumbens area on the right", ["surface_area"], [("accumbens", "right")]),
])
def test_reading_requests(text, ops, mentions):
    matcher = default_matcher()
    req = read_request(text, matcher)
    assert req.ops == ops
    got = [(matcher.match(m.text).ref.concept.name, m.side) for m in req.mentions]
    assert len(got) == len(mentions)
    for (name, side), (want, want_side) in zip(got, mentions):
        assert want in name and side == want_side


def test_volume_request_answers_exact_numbers(agent):
    result = agent.ask("How large is the left hippocampus?")
    assert result.status == "answered"
    values = result.values_json()
    assert values == [{"name": "left hippocampus volume", "value": pytest.approx(480 * VOXEL_ML), "unit": "mL",
                       "step": 3}]
    assert result.program[1] == 'left_hippocampus = segment(img, "left hippocampus")'
    assert f"{480 * VOXEL_ML:.4g} mL" in result.answer


def test_asymmetry_and_ratio_requests(agent):
    result = agent.ask("Is the thalamus asymmetric?")
    ai = next(v for v in result.values_json() if v["name"] == "asymmetry_index")
    assert ai["value"] == pytest.approx((288 - 336) / 312) and ai["unit"] == "1"
    result = agent.ask("ratio of the left hippocampus to the right thalamus")
    ratio = next(v for v in result.values_json() if v["name"] == "ratio")
    assert ratio["value"] == pytest.approx(480 / 336)


def test_every_value_names_its_step(agent):
    result = agent.ask("volumes of the left thalamus and the third ventricle")
    steps = {s.index: s for s in result.interpreter.trace}
    for v in result.values_json():
        assert v["step"] in steps and "volume(" in steps[v["step"]].code


@pytest.mark.parametrize("request_text", ["How large is the tumour?", "measure the liver",
                                          "volume of the zorbulon", "left hippocampus and the frobnicator"])
def test_unknown_or_unsupported_requests_are_refused_without_numbers(agent, request_text):
    result = agent.ask(request_text)
    assert result.status == "refused"
    assert result.values == []


def test_absent_structure_is_reported_absent_not_zero(agent):
    result = agent.ask("volume of the left amygdala")
    assert result.status == "answered" and result.values == []
    assert "absent" in result.answer


def test_critic_flags_wrong_side():
    image, labels = synthetic_head()
    flipped = labels.with_array(labels.array[::-1].copy())  # left and right exchanged
    context = ProgramContext(assign_roles([("t1", image)]), engines=[LabelMapEngine(flipped)])
    result = Agent(context).ask("hippocampal asymmetry")
    assert any(f.kind == "side" for f in result.findings)
    assert "Doubts" in result.answer


def test_each_sentence_keeps_its_own_operations(agent):
    result = agent.ask("How large is the left hippocampus? Where is the right thalamus?")
    assert [v["name"] for v in result.values_json()] == ["left hippocampus volume"]
    assert "locate(right_thalamus)" in " ".join(result.program)
    assert "locate(left_hippocampus)" not in " ".join(result.program)
    assert "right thalamus lies in: right thalamus 100%" in result.answer


def test_empty_mask_is_retried_with_another_engine_and_said_so():
    image, labels = synthetic_head()
    fuller = labels.array.copy()
    fuller[14:18, 10:16, 2:6] = 18  # a left amygdala the first label map lacks: 4*6*4 = 96 voxels
    second = LabelMapEngine(labels.with_array(fuller))
    second.name = "labels-b"
    context = ProgramContext(assign_roles([("t1", image)]), engines=[LabelMapEngine(labels), second])
    result = Agent(context).ask("volume of the left amygdala")
    assert result.values_json()[0]["value"] == pytest.approx(96 * VOXEL_ML)
    assert 'engine="labels-b"' in result.program[-3]
    assert any(f.kind == "engine" for f in result.findings) and "labels-b" in result.answer


def test_list_and_describe(agent):
    listed = agent.ask("Which structures are labelled in this scan?")
    assert listed.status == "answered"
    assert listed.answer.startswith("5 structures are labelled:") and "left hippocampus" in listed.answer
    described = agent.ask("Describe the left thalamus.")
    units = sorted(v["unit"] for v in described.values_json())
    assert units == ["1", "a.u.", "mL", "mm", "mm^2"]


class _TwoLesions(Engine):
    """Answers "lesion" with two separate blocks of known size: the planner's per-piece steps are under test."""

    name = "two-lesions"

    def why_not(self, concept, modality):
        return "" if concept.name == "lesion" else "lesions only"

    def segment(self, volumes, concept, prompts=None):
        image = volumes[0]
        mask = np.zeros(image.shape[:3], bool)
        mask[2:6, 2:6, 2:6] = True  # 64 voxels
        mask[30:32, 30:32, 24:26] = True  # 8 voxels, far from the first
        return Segmentation(image.with_array(mask, channel_names=None, intensity_unit="label"), concept, self.name,
                            True, None, 1.0, {})


@pytest.mark.parametrize("request_text", ["Segment every lesion in this scan and give their volumes",
                                          "volume of each lesion", "How big is each lesion separately?"])
def test_each_lesion_gets_its_own_volume_largest_first(request_text):
    image, _ = synthetic_head()
    context = ProgramContext(assign_roles([("t1", image)]), engines=[_TwoLesions()])
    result = Agent(context).ask(request_text)
    assert result.status == "answered"
    assert [(v["name"], v["value"], v["unit"]) for v in result.values_json()] == [
        ("lesion volume", pytest.approx(72 * VOXEL_ML), "mL"), ("lesion count", 2.0, "1"),
        ("lesion #1 volume", pytest.approx(64 * VOXEL_ML), "mL"),
        ("lesion #2 volume", pytest.approx(8 * VOXEL_ML), "mL")]
    assert "lesion #1 volume: 0.288 mL" in result.answer and "lesion #2 volume: 0.036 mL" in result.answer
    assert "for piece in lesion_pieces: lesion_piece_volumes += [volume(piece)]" in result.program


def test_each_leaves_anatomy_whole(agent):
    result = agent.ask("volume of each left hippocampus")
    assert [v["value"] for v in result.values_json()] == [pytest.approx(480 * VOXEL_ML)]
    assert not any("instances(" in line for line in result.program)
