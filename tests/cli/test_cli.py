"""The installed command, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from pydicom.data import get_testdata_file
from skimage import measure as skmeasure

from tests.conftest import make_ellipsoid
from voxelprompt import __version__
from voxelprompt.volume import Volume, save


def vp(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "voxelprompt", *map(str, args)],
                          capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


def test_version():
    assert vp("--version").stdout.strip() == f"voxelprompt {__version__}"


def test_info_json_on_dicom_mr_and_ultrasound():
    mr = json.loads(vp("info", get_testdata_file("MR2_UNCR.dcm"), "--json").stdout)
    assert mr["spacing"][:2] == pytest.approx([0.195313, 0.195313]) and mr["spacing_unit"] == "mm"
    assert mr["modality"] == "MR" and len(mr["affine"]) == 4
    us = json.loads(vp("info", get_testdata_file("US1_UNCR.dcm"), "--json").stdout)
    assert us["spacing"] is None and us["spacing_unit"].startswith("unknown")
    assert us["channel_names"] == ["R", "G", "B"]


def test_info_on_a_real_label_map(dk_labels_path):
    out = json.loads(vp("info", dk_labels_path, "--json").stdout)
    img = nib.load(dk_labels_path)
    assert out["shape"] == list(img.shape) and out["orientation"] == "LIA"
    np.testing.assert_allclose(out["affine"], img.affine, atol=1e-5)
    assert out["qform_code"] == int(img.header["qform_code"])


@pytest.mark.parametrize("seed", [0, 1])
def test_measure_json_on_an_unseen_oblique_lpi_ellipsoid(tmp_path, seed):
    rng = np.random.default_rng(seed)
    e = make_ellipsoid(semi_axes=tuple(rng.uniform(10, 22, 3)), center=tuple(rng.uniform(-20, 20, 3)),
                       axis_angles=tuple(rng.uniform(-40, 40, 3)), grid_angles=tuple(rng.uniform(-25, 25, 3)))
    path = save(e.mask, tmp_path / "ellipsoid.nii.gz")
    out = json.loads(vp("measure", path, "--json").stdout)
    (rec,) = out["labels"]
    assert rec["label"] == 1
    voxel_ml = float(np.prod(e.mask.spacing)) / 1000.0
    assert rec["volume_ml"] == pytest.approx(e.mask.array.sum() * voxel_ml, rel=0.005)
    # independent reference: scikit-image marching cubes on the physical grid
    verts, faces, _, _ = skmeasure.marching_cubes(np.pad(e.mask.array, 1).astype(float), 0.5)
    world = (verts - 1) @ e.mask.affine[:3, :3].T
    tri = world[faces]
    mc_area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
    assert rec["surface_area_mm2"] == pytest.approx(mc_area, rel=0.05)
    assert abs(rec["max_diameter_mm"] - 2 * e.semi_axes_mm.max()) <= 1.5 * max(e.mask.spacing)
    assert np.linalg.norm(np.array(rec["centroid_mm"]) - e.center_mm) < 0.5
    assert out["spacing_unit"] == "mm"


def test_measure_with_image_and_csv_output(tmp_path):
    e = make_ellipsoid()
    image = Volume(np.where(e.mask.array > 0, 100.0, 10.0).astype(np.float32), e.mask.affine)
    mask_path = save(e.mask, tmp_path / "m.nii.gz")
    img_path = save(image, tmp_path / "i.nii.gz")
    out = json.loads(vp("measure", mask_path, "--image", img_path, "--output", tmp_path / "t.csv",
                        "--json").stdout)
    assert out["labels"][0]["intensity"]["mean"] == pytest.approx(100.0)
    header, row = (tmp_path / "t.csv").read_text().splitlines()[:2]
    assert "volume_ml" in header.split(",") and row.startswith("1,")


def test_measure_label_map_reports_each_label_with_patient_left_negative_x(dk_labels_path):
    # 17 = Left-Hippocampus, 53 = Right-Hippocampus in the FreeSurfer colour table
    out = json.loads(vp("measure", dk_labels_path, "--label", "17", "--label", "53", "--json").stdout)
    by_label = {r["label"]: r for r in out["labels"]}
    assert set(by_label) == {17, 53}
    assert by_label[17]["centroid_mm"][0] < -10 < 10 < by_label[53]["centroid_mm"][0]
    for rec in by_label.values():
        assert 2.5 < rec["volume_ml"] < 7.0  # adult hippocampus, mL


def test_missing_and_corrupt_files(tmp_path):
    assert_one_line_error(vp("info", tmp_path / "missing.nii.gz", check=False), "not found")
    bad = tmp_path / "corrupt.nii.gz"
    bad.write_bytes(b"\x1f\x8b" + b"\x00garbage" * 40)
    assert_one_line_error(vp("measure", bad, check=False), "corrupt.nii.gz")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    assert_one_line_error(vp("info", txt, check=False), "unsupported")


def test_bad_masks_and_images_fail_cleanly_without_output(tmp_path):
    e = make_ellipsoid(shape=(40, 30, 20), semi_axes=(8, 6, 5))
    out_csv = tmp_path / "table.csv"
    four_d = save(Volume(np.zeros((4, 4, 4, 2), np.uint8), np.eye(4)), tmp_path / "4d.nii.gz")
    assert_one_line_error(vp("measure", four_d, "--output", out_csv, check=False), "4")
    empty = save(Volume(np.zeros((5, 5, 5), np.uint8), np.eye(4)), tmp_path / "empty.nii.gz")
    assert_one_line_error(vp("measure", empty, "--output", out_csv, check=False), "empty")
    mask = save(e.mask, tmp_path / "mask.nii.gz")
    other = save(Volume(np.ones((40, 30, 21), np.float32), e.mask.affine), tmp_path / "other.nii.gz")
    assert_one_line_error(vp("measure", mask, "--image", other, "--output", out_csv, check=False),
                          "resample")
    nan_img = np.ones(e.mask.shape, np.float32)
    nan_img[0, 0, 0] = np.nan
    nan_path = save(Volume(nan_img, e.mask.affine), tmp_path / "nan.nii.gz")
    assert_one_line_error(vp("measure", mask, "--image", nan_path, "--output", out_csv, check=False),
                          "finite")
    float_mask = save(Volume(np.full((5, 5, 5), 0.5, np.float32), np.eye(4)), tmp_path / "f.nii.gz")
    assert_one_line_error(vp("measure", float_mask, "--output", out_csv, check=False))
    assert not out_csv.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["4d.nii.gz", "empty.nii.gz", "mask.nii.gz", "other.nii.gz", "nan.nii.gz", "f.nii.gz"])


def test_reorient_and_resample_commands_write_in_place_geometry(tmp_path, dk_labels_path):
    ras = tmp_path / "ras.nii.gz"
    desc = json.loads(vp("reorient", dk_labels_path, "--to", "RAS", "-o", ras, "--json").stdout)
    assert desc["orientation"] == "RAS"
    back = tmp_path / "back.nii.gz"
    vp("resample", ras, "--like", dk_labels_path, "--labels", "-o", back)
    original, restored = nib.load(dk_labels_path), nib.load(back)
    np.testing.assert_allclose(restored.affine, original.affine, atol=1e-6)
    np.testing.assert_array_equal(np.asanyarray(restored.dataobj), np.asanyarray(original.dataobj))


def test_sample_listing():
    listing = json.loads(vp("sample", "--json").stdout)["samples"]
    assert {"mni-t1", "dk-labels", "mr-dicom", "us-dicom"} <= {s["name"] for s in listing}
    assert_one_line_error(vp("sample", "no-such-sample", check=False), "no-such-sample")
