"""Training (resumable) and fine-tuning with the encoder frozen, on tiny runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.vision.conftest import disc_picture
from voxelprompt.errors import InputFileError
from voxelprompt.vision.train2d import TrainConfig, finetune_box_net, train_box_net
from voxelprompt.vision.weights import load_weights, shipped_weights


def test_config_file_rejects_unknown_keys(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"steps": 5, "learning_rat": 0.1}))
    with pytest.raises(InputFileError, match="learning_rat"):
        TrainConfig.from_file(path)
    path.write_text(json.dumps({"steps": 5, "batch_size": 2}))
    assert TrainConfig.from_file(path) == TrainConfig(steps=5, batch_size=2)


def test_training_writes_checkpoints_and_resumes(tmp_path):
    config = TrainConfig(seed=3, steps=2, batch_size=2, scenes=3, checkpoint_every=1)
    weights = train_box_net(config, tmp_path)
    assert weights.name == "boxprompt2d.safetensors" and load_weights(weights) is not None
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 2
    longer = TrainConfig(seed=3, steps=3, batch_size=2, scenes=3, checkpoint_every=1)
    train_box_net(longer, tmp_path)  # resumes at step 2 and does one more
    log = [json.loads(line) for line in (tmp_path / "train.log").read_text().splitlines()]
    assert [e["step"] for e in log if "seconds" in e] == [1, 2, 3]


def test_finetune_changes_the_decoder_only(tmp_path):
    pairs = [disc_picture(centre=(60, 50 + 10 * k), radius=18 + k, seed=k) for k in range(3)]
    out = finetune_box_net(pairs, tmp_path / "tuned.safetensors", steps=2, batch_size=2)
    before, after = load_weights(shipped_weights()).state_dict(), load_weights(out).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    with pytest.raises(InputFileError, match="no foreground"):
        finetune_box_net([(np.zeros((20, 20)), np.zeros((20, 20), bool))], tmp_path / "x.safetensors", steps=1)


def test_bad_weights_files_are_clear_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_weights(tmp_path / "none.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputFileError, match="cannot read weights"):
        load_weights(tmp_path / "junk.safetensors")
