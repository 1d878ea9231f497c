"""The lesion network: shapes, weights round trip, and the smallest lesion it reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from voxelprompt.errors import InputFileError
from voxelprompt.vision.lesion_residual import CHANNELS
from voxelprompt.vision.lesionnet import LesionNet, LoadedLesionNet, deepened, load_lesionnet, save_lesionnet, widened


def test_probability_has_the_working_grid_shape_of_any_size(tmp_path):
    torch.manual_seed(0)
    loaded = LoadedLesionNet(LesionNet().eval(), {})
    channels = np.random.default_rng(0).random((len(CHANNELS), 13, 18, 9)).astype(np.float32)
    p = loaded.probability(channels)
    assert p.shape == (13, 18, 9) and p.min() >= 0 and p.max() <= 1


def test_weights_round_trip_with_their_settings(tmp_path):
    torch.manual_seed(1)
    net = LesionNet().eval()
    path = save_lesionnet(net, tmp_path / "lesion.safetensors", {"threshold": 0.6, "min_ml": 0.3})
    loaded = load_lesionnet(path)
    assert loaded.threshold == 0.6 and loaded.min_ml == 0.3
    channels = np.random.default_rng(2).random((len(CHANNELS), 16, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(loaded.probability(channels), LoadedLesionNet(net, {}).probability(channels), atol=1e-6)


def test_flip_averaging_is_the_mean_over_the_scan_and_its_three_mirror_images(tmp_path):
    torch.manual_seed(4)
    net = LesionNet().eval()
    channels = np.random.default_rng(5).random((len(CHANNELS), 16, 12, 20)).astype(np.float32)
    single = LoadedLesionNet(net, {})
    views = [single.probability(channels)] + [
        np.flip(single.probability(np.ascontiguousarray(np.flip(channels, 1 + a))), a) for a in range(3)]
    path = save_lesionnet(net, tmp_path / "lesion.safetensors", {"flip_average": "1"})
    averaged = load_lesionnet(path)
    assert averaged.flip_average and not single.flip_average
    np.testing.assert_allclose(averaged.probability(channels), np.mean(views, 0), atol=1e-6)
    assert np.abs(averaged.probability(channels) - views[0]).max() > 1e-3  # the mirror images do add something


def test_lesion_mask_drops_components_below_the_smallest_volume():
    loaded = LoadedLesionNet(LesionNet().eval(), {"threshold": "0.5", "min_ml": "0.2"})
    prob = np.zeros((30, 30, 30), np.float32)
    prob[2:4, 2:4, 2:4] = 0.9  # 8 voxels: 0.027 ml at 1.5 mm
    prob[10:20, 10:20, 10:20] = 0.8  # 1000 voxels: 3.4 ml
    mask = loaded.lesion_mask(prob, 1.5 ** 3 / 1000)
    assert mask.sum() == 1000 and not mask[3, 3, 3]


def test_lesion_mask_drops_components_never_sure_of_themselves():
    loaded = LoadedLesionNet(LesionNet().eval(), {"threshold": "0.5", "min_ml": "0.05", "peak": "0.9"})
    prob = np.zeros((30, 30, 30), np.float32)
    prob[2:8, 2:8, 2:8] = 0.7  # 216 voxels, at most 0.7: dropped
    prob[10:20, 10:20, 10:20] = 0.6
    prob[14, 14, 14] = 0.95  # one sure voxel keeps its whole component
    mask = loaded.lesion_mask(prob, 1.5 ** 3 / 1000)
    assert mask.sum() == 1000 and not mask[4, 4, 4]


def test_weights_of_another_network_are_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"architecture": "BoxPromptNet"})
    with pytest.raises(InputFileError, match="not for the lesion network"):
        load_lesionnet(path)
    path2 = tmp_path / "bad.safetensors"
    save_file({"w": torch.zeros(2)}, str(path2), metadata={"architecture": "LesionNet"})
    with pytest.raises(InputFileError, match="do not fit"):
        load_lesionnet(path2)


def _with_batch_norm_statistics(net: LesionNet) -> LesionNet:
    """``net`` with batch norm statistics that are not the identity, as trained weights have."""
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net


def test_a_network_widened_by_a_new_input_computes_what_it_did_before():
    torch.manual_seed(3)
    old_channels = [c for c in CHANNELS if c != "asymmetry"]
    old = _with_batch_norm_statistics(LesionNet(in_channels=len(old_channels))).eval()
    new = widened(old.state_dict(), old_channels).eval()
    x = torch.rand(1, len(CHANNELS), 16, 16, 16)
    keep = [CHANNELS.index(c) for c in old_channels]
    with torch.no_grad():
        torch.testing.assert_close(new(x), old(x[:, keep]), atol=1e-5, rtol=1e-4)
    with pytest.raises(InputFileError, match="no longer has"):
        widened(old.state_dict(), [*old_channels, "colour"])


def test_a_deepened_network_computes_what_it_did_before_and_its_weights_round_trip(tmp_path):
    torch.manual_seed(6)
    old = _with_batch_norm_statistics(LesionNet()).eval()
    deep = deepened(old, 16).eval()
    assert deep.multiple == 8 and old.multiple == 4
    x = torch.rand(1, len(CHANNELS), 24, 16, 32)
    with torch.no_grad():
        torch.testing.assert_close(deep(x), old(x), atol=0, rtol=0)
        deep.lift.weight.normal_()  # once trained, the new level changes the answer
        assert (deep(x) - old(x)).abs().max() > 1e-3
    path = save_lesionnet(deep, tmp_path / "deep.safetensors", {})
    loaded = load_lesionnet(path)
    assert loaded.net.deep is not None and loaded.net.lift.weight.shape[1] == 16
    channels = np.random.default_rng(7).random((len(CHANNELS), 13, 18, 9)).astype(np.float32)
    np.testing.assert_allclose(loaded.probability(channels), LoadedLesionNet(deep, {}).probability(channels), atol=1e-6)
    with pytest.raises(InputFileError, match="already have the deep level"):
        deepened(deep, 16)
