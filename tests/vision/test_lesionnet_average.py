"""The ``average`` step of scripts/train_lesionnet.py: one network whose weights are the mean of several fits."""

from pathlib import Path

import numpy as np
import pytest
import torch

from voxelprompt.vision.lesion_residual import CHANNELS
from voxelprompt.vision.lesionnet import LesionNet, load_lesionnet, save_lesionnet


def _fit(tmp_path: Path, name: str, seed: int, deep: int = 0) -> Path:
    torch.manual_seed(seed)
    net = LesionNet(deep=deep)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.normal_()
    return save_lesionnet(net, tmp_path / name, {"seed": str(seed)})


def test_mean_of_two_fits_without_statistics_pass(tmp_path, train_script):
    a, b = _fit(tmp_path, "a.safetensors", 1), _fit(tmp_path, "b.safetensors", 2)
    out = tmp_path / "mean.safetensors"
    train_script.average([a, b], out, [], batches=0)
    sa, sb = load_lesionnet(a).net.state_dict(), load_lesionnet(b).net.state_dict()
    mean = load_lesionnet(out)
    for key, value in mean.net.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (sa[key] + sb[key]) / 2)
    assert mean.metadata["seed"] == "1,2"
    assert mean.metadata["init"] == "a.safetensors + b.safetensors (mean)"


def test_statistics_measured_again_on_crops(tmp_path, train_script):
    a = _fit(tmp_path, "a.safetensors", 1)
    folder = tmp_path / "cases"
    folder.mkdir()
    rng = np.random.default_rng(0)
    channels = rng.normal(3.0, 1.0, (len(CHANNELS), 16, 16, 16)).astype(np.float16)
    channels[-1] = 1  # the brain channel: every voxel inside
    np.savez_compressed(folder / "case-1.npz", channels=channels, target=np.zeros((16, 16, 16), bool),
                        description='{"template": "t"}')
    out = tmp_path / "mean.safetensors"
    train_script.average([a, a], out, [folder], batches=2)
    stem = [m for m in load_lesionnet(out).net.modules() if isinstance(m, torch.nn.BatchNorm3d)][0]
    # the first normalisation sees a convolution of inputs around 3: its measured means are no longer N(0, 1) draws
    before = [m for m in load_lesionnet(a).net.modules() if isinstance(m, torch.nn.BatchNorm3d)][0]
    assert not torch.allclose(stem.running_mean, before.running_mean)
    assert int(stem.num_batches_tracked) == 2


def test_fits_of_different_layers_refused(tmp_path, train_script):
    a, b = _fit(tmp_path, "a.safetensors", 1), _fit(tmp_path, "b.safetensors", 2, deep=8)
    with pytest.raises(SystemExit, match="different layers"):
        train_script.average([a, b], tmp_path / "mean.safetensors", [], batches=0)
