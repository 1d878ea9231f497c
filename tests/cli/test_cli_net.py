"""The 3D network from the command line: eval, lesion eval, train configs, fine-tuning a new concept."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from tests.cli.test_cli import assert_one_line_error, vp
from voxelprompt.evaluation.cases import make_case
from voxelprompt.volume import save


def test_eval_runs_from_the_install_and_compares_with_a_saved_report_of_the_same_cases(tmp_path):
    args = ["eval", "--engine", "net", "--template", "icbm2009c-brain", "--structure", "left lateral ventricle",
            "--structure", "right thalamus"]
    saved = tmp_path / "net.json"
    vp(*args, "--seeds", "33", "--output", saved)
    first = json.loads(saved.read_text())
    assert first["engine"] == "net" and len(first["cases"]) == 1 and first["mean_dice"] > 0.4
    report = json.loads(vp(*args, "--seeds", "33", "--against", saved, "--json").stdout)
    assert report["comparison"]["other_engine"] == "net"
    # the same engine and cases: equal up to ANTs' multithreaded metric sampling
    assert abs(report["comparison"]["mean_dice_difference"]) < 0.01
    assert_one_line_error(vp(*args, "--seeds", "34", "--against", saved, check=False), "not on the same cases")
    (tmp_path / "broken.json").write_text("{")
    assert_one_line_error(vp(*args, "--seeds", "33", "--against", tmp_path / "broken.json", check=False),
                          "cannot read report")


def test_eval_lesions_reports_dice_and_the_absent_rate_with_two_jobs():
    # that two jobs score exactly as one is checked on the harness (tests/evaluation/test_parallel.py) and, with
    # this engine, by scripts/benchmark_parallel_eval.py (benchmarks/parallel-eval-lesions-seeds361-362.json)
    report = json.loads(vp("--deterministic", "eval", "--engine", "net", "--lesions", "--seeds", "32", "--template",
                           "icbm2009c-brain", "--jobs", "2", "--json").stdout)  # a process per case
    assert report["concept"] == "lesion" and report["jobs"] == 2
    assert [len(report["lesion_cases"]), len(report["lesion_free_cases"])] == [1, 1]
    lesion, clean = report["lesion_cases"][0], report["lesion_free_cases"][0]
    assert report["mean_lesion_dice"] == lesion["dice"] and 0.0 <= lesion["dice"] <= 1.0
    assert report["absent_rate_lesion_free"] == (0.0 if clean["present"] else 1.0)
    assert vp("eval", "--jobs", "0", check=False).returncode != 0


def test_train_config_errors_are_one_line(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model": "text3d", "steps": 2, "epochs": 3}))
    assert_one_line_error(vp("train", config, "--output", tmp_path / "run", check=False), "epochs")
    config.write_text(json.dumps({"model": "unet9"}))
    assert_one_line_error(vp("train", config, "--output", tmp_path / "run", check=False), "unknown model")
    assert_one_line_error(vp("eval", "--engine", "atlas", "--weights", config, check=False), "net engine only")


def test_finetune_teaches_a_new_concept_that_segment_then_finds(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for k, seed in enumerate((601, 602)):
        case = make_case(seed, "icbm2009c-brain", contrast="t1")
        lab = np.asarray(case.labels.array)
        save(case.image, images / f"case{k}.nii.gz")
        save(case.labels.with_array(np.isin(lab, (11, 12)).astype(np.uint8)), labels / f"case{k}_mask.nii.gz")
    env = {**os.environ, "VOXELPROMPT_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "voxelprompt"]
    proc = subprocess.run([*cmd, "finetune", "--images", images, "--labels", labels,
                           "--concept", "left dorsal striatum", "--output", tmp_path / "striatum.safetensors",
                           "--steps", "12", "--holdout", "0.5", "--json"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["train_volumes"] == 1 and report["heldout_volumes"] == 1 and report["frozen"] == "encoder"
    assert 0.0 <= report["heldout_dice_before"] <= 1.0 and 0.0 <= report["heldout_dice_after"] <= 1.0
    proc = subprocess.run([*cmd, "segment", images / "case1.nii.gz", "--concept", "left dorsal striatum",
                           "--output", tmp_path / "out", "--json"], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["results"][0]
    assert result["engine"] == "net" and result["status"] == "segmented"
    assert result["provenance"]["weights"].endswith("striatum.safetensors")
