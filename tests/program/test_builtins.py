"""Builtins on a label map: numbers with units, the step that produced them, refusals."""

from __future__ import annotations

import pytest

from tests.program.conftest import VOXEL_ML
from voxelprompt.program import ProgramError, describe_registry


def test_volume_asymmetry_ratio_with_steps(interpreter, context):
    interpreter.run('img = image("t1")\n'
                    'lh = segment(img, "left hippocampus")\n'
                    'rh = segment(img, "rt. hippocampus")\n'
                    'lv = volume(lh)\n'
                    'rv = volume(rh)\n'
                    'ai = asymmetry(lv, rv)\n'
                    'thal = volume(segment(img, "right thalamus"))\n'
                    'r = ratio(lv, thal)\n'
                    'answer(f"left {lv.value:.3f} mL", [lv, ai, r])')
    lv = interpreter.names["lv"]
    assert lv.unit == "mL" and lv.value == pytest.approx(480 * VOXEL_ML)
    assert lv.provenance["step"] == 4 and lv.provenance["region"] == "left hippocampus"
    assert interpreter.names["ai"].value == pytest.approx(0.0)
    assert interpreter.names["r"].value == pytest.approx(480 / 336)
    answer = context.answer
    assert answer.text == f"left {480 * VOXEL_ML:.3f} mL"
    assert [q.provenance["step"] for q in answer.values] == [4, 6, 8]


def test_sets_morphology_instances_and_locate(interpreter):
    interpreter.run('img = image()\n'
                    'both = union(segment(img, "left hippocampus"), segment(img, "right hippocampus"))\n'
                    'n = count(both)\n'
                    'parts = instances(both)\n'
                    'big = dilate(segment(img, "third ventricle"), 1.5)\n'
                    'inner = erode(big, 1.5)\n'
                    'where = locate(big)\n'
                    'd = diameter(segment(img, "left thalamus"))')
    assert interpreter.names["n"].value == 2 and interpreter.names["n"].unit == "1"
    assert len(interpreter.names["parts"]) == 2
    assert interpreter.names["big"].voxels > 96 and interpreter.names["inner"].voxels == 96
    big = interpreter.names["big"].voxels
    assert big == 4 * 10 * 6 - 4 * 6  # a 1.5 mm ball on 1.5 x 1.5 x 2 mm voxels is a 2D cross
    where = dict(interpreter.names["where"])
    assert where["third ventricle"] == pytest.approx(96 / big, abs=1e-4)
    assert where["outside labelled anatomy"] == pytest.approx(1 - 96 / big, abs=1e-4)
    d = interpreter.names["d"]
    assert d.unit == "mm" and d.value == pytest.approx(((5 * 1.5) ** 2 + (7 * 1.5) ** 2 + (5 * 2.0) ** 2) ** 0.5)


@pytest.mark.parametrize("concept,error_type", [("tumour", "ConceptRefused"), ("liver", "ConceptRefused"),
                                                ("zorbulon gyrus", "ConceptRefused")])
def test_unknown_or_unsupported_concepts_are_refused(interpreter, concept, error_type):
    steps = interpreter.run(f'x = segment(image(), "{concept}")', stop_on_error=False)
    assert steps[0].error_type == error_type
    assert "x" not in interpreter.names


def test_bad_arguments_give_clear_errors(interpreter):
    with pytest.raises(ProgramError, match="must be a region"):
        interpreter.run("v = volume(3)")
    with pytest.raises(ProgramError, match="out of range"):
        interpreter.run('r = dilate(segment(image(), "left thalamus"), 500)')
    with pytest.raises(ProgramError, match="no image has the role 'flair'"):
        interpreter.run('f = image("flair")')


def test_registry_spec_documents_units():
    spec = {f["name"]: f for f in describe_registry()}
    assert {"segment", "volume", "area", "diameter", "intensity", "count", "instances", "union", "dilate",
            "erode", "largest", "fill_holes", "restrict", "align", "ratio", "change", "asymmetry", "normalize",
            "locate", "answer"} <= set(spec)
    assert "mL" in spec["volume"]["doc"] and "mm^2" in spec["area"]["doc"] and "%" in spec["change"]["doc"]
    assert spec["segment"]["parameters"][0] == {"name": "image", "type": "Image"}
