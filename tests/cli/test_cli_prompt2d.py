"""`voxelprompt segment` with boxes and points on pictures, DICOM, frame sequences and volumes."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image
from pydicom.data import get_testdata_file

from tests.cli.test_cli import assert_one_line_error, vp
from tests.vision.conftest import box_of, dice, disc_picture


def _ellipse_png(tmp_path):
    yy, xx = np.mgrid[0:180, 0:240]
    mask = ((xx - 110) / 45.0) ** 2 + ((yy - 95) / 30.0) ** 2 <= 1
    rng = np.random.default_rng(0)
    picture = np.clip(np.where(mask, 70, 150) + rng.normal(0, 12, mask.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "scan.png"
    Image.fromarray(picture).save(path)
    return path, mask


def test_box_prompt_on_a_picture_writes_a_same_size_png_and_measures_the_instance(tmp_path):
    path, mask = _ellipse_png(tmp_path)
    out = tmp_path / "out"
    res = json.loads(vp("segment", path, "--concept", "breast tumor", "--box", "60", "60", "160", "130",
                        "--output", out, "--json").stdout)["results"][0]
    assert res["matched"] == "breast tumor" and res["status"] == "segmented" and res["instance_count"] == 1
    saved = np.asarray(Image.open(out / "breast_tumor.png"))
    assert saved.shape == mask.shape and set(np.unique(saved)) == {0, 255}
    assert dice(saved == 255, mask) > 0.9
    inst = res["instances"][0]
    assert res["spacing"].startswith("unknown") and "area_px2" in inst and "area_mm2" not in inst
    assert abs(inst["area_px2"] - mask.sum()) < 0.1 * mask.sum()
    assert abs(inst["longest_diameter_px"] - 90) < 6 and abs(inst["perpendicular_width_px"] - 60) < 6
    assert 0.85 < inst["circularity"] <= 1 and 0 <= inst["score"] <= 1
    assert res["refinement"][0]["rounds"][0]["round"] == 1 and res["refinement"][0]["stopped"]
    assert (out / "breast_tumor_overlay.png").exists()


def test_two_prompts_give_two_instances_and_an_instance_label_map(tmp_path):
    picture = np.full((120, 200), 150, np.uint8)
    a, mask_a = disc_picture(shape=(120, 200), centre=(60, 50), radius=20)
    b, mask_b = disc_picture(shape=(120, 200), centre=(60, 150), radius=15, seed=1)
    picture = np.where(mask_b, b, a)
    Image.fromarray(picture).save(tmp_path / "two.png")
    (tmp_path / "prompts.json").write_text(json.dumps([{"box": list(box_of(mask_a, 5))},
                                                       {"box": list(box_of(mask_b, 5)), "points": [[150, 60]]}]))
    res = json.loads(vp("segment", tmp_path / "two.png", "--concept", "cyst", "--prompts", tmp_path / "prompts.json",
                        "--output", tmp_path / "o", "--json").stdout)["results"][0]
    assert res["instance_count"] == 2 and [i["id"] for i in res["instances"]] == [1, 2]
    labels = np.asarray(Image.open(tmp_path / "o" / "cyst_instances.png"))
    assert dice(labels == 1, mask_a) > 0.9 and dice(labels == 2, mask_b) > 0.9


def test_dicom_pictures_report_their_spacing_or_pixels(tmp_path):
    us = json.loads(vp("segment", get_testdata_file("US1_UNCR.dcm"), "--concept", "lesion", "--box", "200", "150",
                       "330", "260", "--output", tmp_path / "us", "--json").stdout)["results"][0]
    assert us["spacing"].startswith("unknown")
    assert np.asarray(Image.open(us["file"])).shape == (480, 640)
    mr = json.loads(vp("segment", get_testdata_file("MR2_UNCR.dcm"), "--concept", "lesion", "--box", "40", "40",
                       "120", "120", "--rounds", "1", "--output", tmp_path / "mr", "--json").stdout)["results"][0]
    assert mr["spacing"] == "mm"
    assert all("area_mm2" in i for i in mr["instances"])
    assert len(mr["refinement"][0]["rounds"]) == 1


def test_frames_are_propagated_and_written_on_the_input_grid(tmp_path):
    frames, masks = [], []
    for k in range(7):
        pic, mask = disc_picture(centre=(60, 60 + 3 * k), radius=18 + k, seed=k)
        frames.append(pic)
        masks.append(mask)
    tifffile.imwrite(tmp_path / "clip.tif", np.stack(frames))
    res = json.loads(vp("segment", tmp_path / "clip.tif", "--concept", "cyst", "--frame", "3", "--box",
                        *map(str, box_of(masks[3], 5)), "--propagate", "--output", tmp_path / "o",
                        "--json").stdout)["results"][0]
    assert res["frames_segmented"] == list(range(7))
    saved = np.asarray(nib.load(res["file"]).dataobj)
    assert saved.shape == (160, 120, 7)
    for k in range(7):
        assert dice(saved[:, :, k].T > 0, masks[k]) > 0.85, k


def test_world_mm_box_on_a_volume_slice_propagates_through_the_slices(tmp_path):
    affine = np.diag([0.8, 0.8, 1.5, 1.0])
    affine[:3, 3] = (-40.0, -30.0, -12.0)
    ii, jj, kk = np.meshgrid(np.arange(100), np.arange(90), np.arange(17), indexing="ij")
    world = np.stack([ii, jj, kk, np.ones_like(ii)], -1) @ affine.T
    sphere = (world[..., 0] - 2) ** 2 + (world[..., 1] - 4) ** 2 + (world[..., 2] - 0) ** 2 <= 10 ** 2
    rng = np.random.default_rng(0)
    image = np.where(sphere, 300.0, 100.0) + rng.normal(0, 15, sphere.shape)
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), tmp_path / "vol.nii.gz")
    res = json.loads(vp("segment", tmp_path / "vol.nii.gz", "--concept", "lesion", "--box", "-11", "-9", "15",
                        "17", "--frame", "8", "--propagate", "--output", tmp_path / "o", "--json").stdout)["results"][0]
    saved = np.asarray(nib.load(res["file"]).dataobj) > 0
    assert saved.shape == image.shape and np.allclose(nib.load(res["file"]).affine, affine)
    assert res["spacing"] == "mm" and "area_mm2" in res["instances"][0]
    assert dice(saved, sphere) > 0.8


def test_bad_prompts_end_in_one_line_errors_and_write_nothing(tmp_path):
    path, _ = _ellipse_png(tmp_path)
    out = tmp_path / "out"
    assert_one_line_error(vp("segment", path, "--concept", "tumor", "--output", out, check=False), "--box")
    assert_one_line_error(vp("segment", path, "--concept", "tumor", "--box", "300", "10", "400", "50", "--output",
                             out, check=False), "outside")
    assert_one_line_error(vp("segment", path, "--concept", "tumor", "--box", "50", "50", "40", "90", "--output",
                             out, check=False), "empty")
    assert_one_line_error(vp("segment", path, "--concept", "tumor", "--point", "10", "500", "--output", out,
                             check=False), "outside")
    assert_one_line_error(vp("segment", path, "--concept", "tumor", "--box", "60", "60", "160", "130", "--critic",
                             "openai", "--output", out, check=False), "--llm-url")
    assert not out.exists()


def _run(env_home, *args):
    import os
    import subprocess
    import sys

    env = {**os.environ, "VOXELPROMPT_HOME": str(env_home)}
    return subprocess.run([sys.executable, "-m", "voxelprompt", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


def test_finetune_scores_held_out_pairs_and_registers_the_concept(tmp_path):
    (tmp_path / "data").mkdir()
    for k in range(6):  # BUSI layout: masks beside their pictures
        picture, mask = disc_picture(centre=(60, 50 + 8 * k), radius=16 + 2 * k, seed=k)
        Image.fromarray(picture).save(tmp_path / "data" / f"case ({k}).png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "data" / f"case ({k})_mask.png")
    weights = tmp_path / "tuned.safetensors"
    proc = _run(tmp_path / "home", "finetune", "--images", tmp_path / "data", "--concept", "cyst", "--output", weights,
                "--steps", "3", "--holdout", "0.34", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["train_pairs"] == 4 and report["heldout_pairs"] == 2 and report["frozen"] == "encoder"
    after = report["heldout_after"]["cyst"]
    assert after["images"] == 2 and after["dice"]["mean"] > 0.8 and 0 <= after["nsd"]["mean"] <= 1
    assert weights.exists() and json.loads(weights.with_suffix(".json").read_text())["steps"] == 3
    registry = json.loads((tmp_path / "home" / "finetuned2d.json").read_text())
    assert registry == {"cyst": str(weights.resolve())}
    proc = _run(tmp_path / "home", "segment", tmp_path / "data" / "case (0).png", "--concept", "cyst", "--box", "25",
                "25", "95", "95", "--output", tmp_path / "o", "--json")
    assert json.loads(proc.stdout)["results"][0]["weights"] == str(weights.resolve())
    bad = _run(tmp_path / "home", "finetune", "--images", tmp_path / "data", "--concept", "cyst", "--output",
               tmp_path / "w.pt")
    assert_one_line_error(bad, ".safetensors")


def test_eval_2d_scores_the_segmenters_on_held_out_scenes(tmp_path):
    report = json.loads(vp("eval-2d", "--seeds", "9100-9103", "--json").stdout)
    box, otsu = report["methods"]["boxprompt"], report["methods"]["otsu"]
    assert report["scenes"] == 4 and report["rounds"] == 3
    assert box["first_round"]["dice"]["mean"] > 0.8 and box["refined_minus_first"] >= 0
    assert 0 <= otsu["first_round"]["dice"]["mean"] <= 1 and len(report["per_scene"]) == 4


def test_train_runs_from_a_config_and_resumes(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"seed": 2, "steps": 2, "batch_size": 2, "scenes": 2, "checkpoint_every": 1}))
    vp("train", config, "--output", tmp_path / "run")
    assert (tmp_path / "run" / "boxprompt2d.safetensors").exists()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == 2
    config.write_text(json.dumps({"seed": 2, "steps": 2, "batch_size": 2, "scenes": 2, "checkpoint_ever": 1}))
    assert_one_line_error(vp("train", config, "--output", tmp_path / "run2", check=False), "checkpoint_ever")


def test_multi_frame_ultrasound_dicom_takes_pixel_boxes_and_reports_mm(tmp_path):
    clip = get_testdata_file("OBXXXX1A_2frame.dcm")  # 2 frames of 600 x 800, ultrasound region calibration
    res = json.loads(vp("segment", clip, "--concept", "lesion", "--box", "300", "200", "500", "380", "--frame", "1",
                        "--propagate", "--output", tmp_path, "--json").stdout)["results"][0]
    assert res["frame"] == 1 and res["frames_segmented"] == [0, 1] and res["spacing"] == "mm"
    saved = nib.load(res["file"])
    assert saved.shape == (800, 600, 2)
    inst = res["instances"][-1]
    assert inst["frame"] == 1 and "area_mm2" in inst
    x0, y0, x1, y1 = inst["bbox_px"]
    assert 300 <= x0 and x1 <= 500 and 200 <= y0 and y1 <= 380  # pixels, not mm: the mask stays in the box
    assert inst["area_mm2"] == pytest.approx(np.count_nonzero(np.asarray(saved.dataobj)[:, :, 1]) * 0.262288 ** 2,
                                             rel=1e-3)


def test_prompted_segmentation_refuses_several_images(tmp_path):
    path, _ = _ellipse_png(tmp_path)
    assert_one_line_error(vp("segment", path, path, "--concept", "tumor", "--box", "60", "60", "160", "130",
                             "--output", tmp_path / "o", check=False), "one image")
