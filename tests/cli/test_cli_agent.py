"""functions, run, ask and demo through the installed command."""

from __future__ import annotations

import json
import time

import nibabel as nib
import numpy as np
import pytest

from tests.cli.test_cli import assert_one_line_error, vp
from tests.program.conftest import VOXEL_ML, synthetic_head
from voxelprompt.volume import save


@pytest.fixture(scope="module")
def head_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("head")
    image, labels = synthetic_head()
    return save(image, folder / "t1.nii.gz"), save(labels, folder / "aseg.nii.gz")


def test_functions_json_lists_documented_builtins():
    spec = json.loads(vp("functions", "--json").stdout)["functions"]
    names = {f["name"] for f in spec}
    assert {"segment", "volume", "asymmetry", "locate", "answer"} <= names
    assert all(f["doc"] for f in spec)


def test_run_program_json(tmp_path, head_files):
    image, labels = head_files
    program = tmp_path / "p.vp"
    program.write_text('img = image("t1")\nv = volume(segment(img, "left hippocampus"))\nanswer("done", [v])\n')
    out = json.loads(vp("run", program, f"t1={image}", "--labels", f"t1={labels}", "--json").stdout)
    assert out["answer"] == "done"
    assert out["values"] == [{"name": "left hippocampus volume", "value": pytest.approx(480 * VOXEL_ML),
                              "unit": "mL", "step": 2}]
    assert [s["step"] for s in out["trace"]] == [1, 2, 3]


@pytest.mark.parametrize("source,word", [
    ("import os\n", "import"),
    ("x = ().__class__.__subclasses__()\n", "private attribute"),
    ("f = open('/etc/passwd')\n", "not allowed"),
    ("for i in range(10**12):\n    pass\n", "limit"),
    ("x = [0] * 10**10\n", "limit"),
])
def test_run_stops_hostile_programs(tmp_path, head_files, source, word):
    program = tmp_path / "bad.vp"
    program.write_text(source)
    start = time.perf_counter()
    proc = vp("run", program, head_files[0], check=False)
    assert time.perf_counter() - start < 30
    assert_one_line_error(proc, word)


def test_ask_json_with_labels_and_outputs(tmp_path, head_files):
    image, labels = head_files
    out = tmp_path / "report"
    payload = json.loads(vp("ask", f"t1={image}", "What is the volume of the right thalamus?", "--labels",
                            str(labels), "--output", out, "--json").stdout)
    assert payload["status"] == "answered"
    assert payload["values"][0]["value"] == pytest.approx(336 * VOXEL_ML) and payload["values"][0]["unit"] == "mL"
    assert payload["program"][0] == "img = image()"
    mask = nib.load(payload["masks"][0])
    assert np.allclose(mask.affine, nib.load(image).affine) and int(np.asanyarray(mask.dataobj).sum()) == 336
    assert (out / "right_thalamus.png").stat().st_size > 0
    assert json.loads((out / "report.json").read_text())["values"] == payload["values"]
    assert "right thalamus" in (out / "report.html").read_text()


def test_ask_refuses_and_plans(head_files):
    image, labels = head_files
    refused = json.loads(vp("ask", image, "How big is the tumour?", "--labels", labels, "--json").stdout)
    assert refused["status"] == "refused" and refused["values"] == []
    plan = json.loads(vp("ask", image, "hippocampal asymmetry", "--labels", labels, "--plan-only", "--json").stdout)
    assert plan["program"][-1] == "hippocampus_asymmetry = asymmetry(left_hippocampus_volume, right_hippocampus_volume)"


def test_ask_errors_are_one_line(head_files):
    assert_one_line_error(vp("ask", "missing.nii.gz", "volume of the left hippocampus", check=False),
                          "missing.nii.gz")
    assert_one_line_error(vp("ask", head_files[0], "x", "--labels", "flair=" + str(head_files[1]), check=False),
                          "flair")


def test_demo_answers_on_installed_template():
    payload = json.loads(vp("demo", "--json").stdout)
    results = payload["results"]
    assert results[0]["status"] == "answered" and results[0]["values"][0]["unit"] == "mL"
    assert results[-1]["status"] == "refused"
    assert payload["picture"]["seed"] == 9001 and payload["picture"]["dice_vs_truth"] > 0.85


def test_ask_change_between_visits_uses_each_visits_label_map(tmp_path, head_files):
    labels = synthetic_head()[1]
    shrunk = labels.array.copy()
    shrunk[5:7][shrunk[5:7] == 17] = 0  # the left hippocampus loses 2 of its 8 slabs: 480 -> 360 voxels
    v2 = save(labels.with_array(shrunk), tmp_path / "aseg_v2.nii.gz")
    payload = json.loads(vp("ask", f"visit1={head_files[0]}", f"visit2={head_files[0]}",
                            "How much did the left hippocampus shrink between visits?",
                            "--labels", f"visit1={head_files[1]}", "--labels", f"visit2={v2}", "--json").stdout)
    values = {v["name"]: v for v in payload["values"]}
    change = next(v for v in payload["values"] if v["unit"] == "%")
    assert change["value"] == pytest.approx((360 - 480) / 480 * 100)
    assert sorted(round(v["value"] / VOXEL_ML) for v in values.values() if v["unit"] == "mL") == [360, 480]
