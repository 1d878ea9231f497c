"""`voxelprompt concepts`, `segment` and `eval` as a user runs them."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np

from tests.cli.test_cli import assert_one_line_error, vp
from voxelprompt.engines.net import NetEngine
from voxelprompt.evaluation.cases import make_case
from voxelprompt.volume import save


def test_concepts_json_lists_at_least_200_concepts_with_lut_ids():
    out = json.loads(vp("concepts", "--json").stdout)
    assert out["count"] == len(out["concepts"]) >= 200
    by_name = {c["name"]: c for c in out["concepts"]}
    assert by_name["left hippocampus"]["fs_ids"] == [17]
    assert by_name["tumor"]["kind"] == "pathology" and by_name["liver"]["region"] == "abdomen"


def test_concepts_search_parses_side_and_refuses_unknown_text():
    hit = json.loads(vp("concepts", "--search", "rt. hippocampi", "--json").stdout)
    assert hit["matched"] == "right hippocampus" and hit["side"] == "right"
    miss = vp("concepts", "--search", "banana split", "--json", check=False)
    assert miss.returncode == 1
    assert len(json.loads(miss.stdout)["suggestions"]) == 3


def test_segment_writes_masks_in_the_input_geometry_and_refuses_pathology(tmp_path):
    case = make_case(77, "icbm2009c-brain", contrast="inverted")
    image = save(case.image, tmp_path / "scan.nii.gz")
    out = json.loads(vp("segment", image, "--concept", "L. putamen", "--concept", "brain tumour",
                        "--output", tmp_path / "masks", "--json").stdout)
    first, second = out["results"]
    assert first["concept"] == "L. putamen" and first["matched"] == "left putamen"
    routed = "net" if "left putamen" in NetEngine().preferred else "atlas"  # where eval measured the net better
    assert first["engine"] == routed and first["present"] is True and 2.0 < first["volume_ml"] < 9.0
    written, ref = nib.load(first["file"]), nib.load(image)
    assert written.shape == ref.shape
    np.testing.assert_allclose(written.affine, ref.affine, atol=1e-6)
    assert second["status"] == "refused" and second["file"] is None and "pathology" in second["reason"]
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["left_putamen.nii.gz"]


def test_segment_with_only_refused_concepts_fails_without_files(tmp_path):
    img = save(make_case(78, "mni152-fsl-brain", contrast="t1").image, tmp_path / "scan.nii.gz")
    proc = vp("segment", img, "--concept", "liver", "--output", tmp_path / "masks", "--json", check=False)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["results"][0]["status"] == "refused"
    assert not (tmp_path / "masks").exists()


def test_eval_rejects_an_unknown_engine_and_bad_seeds():
    assert_one_line_error(vp("eval", "--engine", "nope", check=False), "no engine called 'nope'")
    assert_one_line_error(vp("eval", "--seeds", "a-b", check=False), "cannot read seeds")
