"""Where the fit step of scripts/train_lesionnet.py centres its crops: the shares of lesion and hard crops."""

import json

import numpy as np
import pytest

from voxelprompt.vision.lesion_residual import CHANNELS
from voxelprompt.vision.lesionnet import load_lesionnet
from voxelprompt.vision.weights import read_safetensors


def two_corner_case():
    """A 48^3 brain with a 4^3 lesion in one corner and a lesion-free outlier region in the opposite one."""
    channels = np.zeros((len(CHANNELS), 48, 48, 48), np.float32)
    channels[-1] = 1  # the brain mask: everywhere
    target = np.zeros((48, 48, 48), bool)
    target[4:8, 4:8, 4:8] = True
    channels[CHANNELS.index("outlier"), 40:44, 40:44, 40:44] = 1.0  # the scan differs here, not by a lesion
    return {"channels": channels, "target": target}


def test_every_crop_holds_the_lesion_when_all_are_lesion_crops(train_script):
    x, y = train_script.crops([two_corner_case()], np.random.default_rng(0), 12, 16, lesion_share=1.0,
                              hard_share=0.0)
    assert x.shape == (12, len(CHANNELS), 16, 16, 16)
    assert [int(v) for v in y.sum((1, 2, 3, 4))] == [64] * 12  # the whole 4^3 lesion in each


def test_hard_crops_hold_the_outlier_region_and_no_lesion(train_script):
    assert train_script.OUTLIER == CHANNELS.index("outlier")
    x, y = train_script.crops([two_corner_case()], np.random.default_rng(1), 12, 16, lesion_share=0.0,
                              hard_share=1.0)
    assert int(y.sum()) == 0
    assert [int((v > 0.5).sum()) for v in x[:, train_script.OUTLIER]] == [64] * 12


def test_shares_adding_up_to_more_than_one_stop_the_fit_with_a_message(train_script, tmp_path):
    with pytest.raises(SystemExit, match="add up to at most 1"):
        train_script.fit([tmp_path], tmp_path / "w.safetensors", steps=1, n_val=0, seed=0, lesion_share=0.6,
                         hard_share=0.6)
    assert not (tmp_path / "w.safetensors").exists()


def test_the_weights_record_the_crop_shares_and_alignment_they_were_fitted_with(train_script, tmp_path):
    case = two_corner_case()
    train_script.save_case(tmp_path / "case-0.npz", channels=case["channels"].astype(np.float16),
                           target=case["target"], description=json.dumps({"template": "synthetic"}))
    out = tmp_path / "w.safetensors"
    train_script.fit([tmp_path], out, steps=1, n_val=0, seed=0, lesion_share=0.4, hard_share=0.1)
    _, metadata = read_safetensors(out)
    assert json.loads(metadata["crops"]) == {"lesion": 0.4, "hard_negative": 0.1}
    assert metadata["alignment"] == "plain" and not load_lesionnet(out).robust_alignment
    train_script.fit([tmp_path], out, steps=1, n_val=0, seed=0, robust=True)  # cases of data --robust-alignment
    assert read_safetensors(out)[1]["alignment"] == "robust" and load_lesionnet(out).robust_alignment
