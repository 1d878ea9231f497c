"""The language-conditioned 3D network: shapes, shared encoding, 2D slices, weights round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from voxelprompt.errors import InputFileError
from voxelprompt.vision.textnet3d import FEATURE_DIM, TextConditionedNet3D
from voxelprompt.vision.weights3d import load_net3d, save_net3d


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return TextConditionedNet3D().eval()


def test_many_concepts_share_one_encoding(net):
    x = torch.randn(1, 7, 16, 24, 16)
    text = torch.randn(3, 384)
    with torch.no_grad():
        feats = net.features(x)
        logits, presence = net.readout(feats, text)
        single = [net.readout(feats, text[k:k + 1])[0] for k in range(3)]
    assert feats.shape == (1, FEATURE_DIM, 16, 24, 16)
    assert logits.shape == (1, 3, 16, 24, 16) and presence.shape == (1, 3)
    for k in range(3):
        torch.testing.assert_close(logits[:, k:k + 1], single[k])


def test_a_2d_slice_and_odd_sizes_work(net):
    with torch.no_grad():
        logits, presence = net(torch.randn(1, 7, 21, 19, 1), torch.randn(2, 384))
    assert logits.shape == (1, 2, 21, 19, 1) and torch.isfinite(logits).all() and presence.shape == (1, 2)


def test_weights_round_trip_with_concept_embeddings(net, tmp_path):
    vectors = {"left hippocampus": np.ones(384, np.float32) / np.sqrt(384)}
    path = save_net3d(net, tmp_path / "w.safetensors", vectors, {"seed": "1"}, half=False)
    loaded = load_net3d(path)
    assert list(loaded.concepts) == ["left hippocampus"]
    np.testing.assert_allclose(loaded.embedding("left hippocampus"), vectors["left hippocampus"], atol=1e-3)
    assert json.loads(loaded.metadata["concepts"]) == ["left hippocampus"]
    for key, value in net.state_dict().items():
        torch.testing.assert_close(loaded.net.state_dict()[key], value)


def test_wrong_files_give_one_line_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_net3d(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    with pytest.raises(InputFileError, match="cannot read"):
        load_net3d(bad)
