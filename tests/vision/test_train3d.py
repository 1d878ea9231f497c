"""Training the 3D network: reproducible, resumable, logged; fine-tuning keeps the encoder frozen."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from voxelprompt.errors import InputFileError
from voxelprompt.vision import train3d
from voxelprompt.vision.synth3d import NET_SHAPE
from voxelprompt.vision.textnet3d import TextConditionedNet3D
from voxelprompt.vision.train3d import Train3DConfig, crop_box, finetune_text_net, mask_loss, pick_concepts
from voxelprompt.vision.weights3d import PhraseBank, load_net3d, save_net3d


@pytest.fixture
def quick_bank(monkeypatch):
    """Phrase embeddings without the text model: a fixed random unit vector per phrase."""

    def for_concepts(concepts):
        rng = np.random.default_rng(0)
        rows = {}
        for c in concepts:
            v = rng.normal(size=(len(c.phrases), 384)).astype(np.float32)
            rows[c.name] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return PhraseBank([c.name for c in concepts], rows)

    monkeypatch.setattr(train3d.PhraseBank, "for_concepts", staticmethod(for_concepts))


def test_config_rejects_unknown_keys():
    with pytest.raises(InputFileError, match="unknown keys"):
        Train3DConfig.from_dict({"steps": 3, "epochs": 9})
    assert Train3DConfig.from_dict({"steps": 3}).steps == 3


def test_concept_sampling_mixes_structures_composites_cortex_and_pathology():
    pool = train3d.trainable_concepts()
    picked = pick_concepts(np.random.default_rng(0), pool, 10)
    kinds = [c.kind for c in picked]
    assert len(picked) == 10 and len({c.name for c in picked}) == 10
    assert kinds.count("pathology") == 2 and kinds.count("composite") == 2
    assert sum(k == "anatomy" for k in kinds) == 6


def test_concept_mix_sets_the_shares_of_each_kind():
    pool = train3d.trainable_concepts()
    picked = pick_concepts(np.random.default_rng(1), pool, 10, {"core": 0.4, "composite": 0.1, "path": 0.4,
                                                                 "cortex": 0.1})
    kinds = [c.kind for c in picked]
    assert kinds.count("pathology") == 4 and kinds.count("composite") == 1 and len(picked) == 10
    only_path = pick_concepts(np.random.default_rng(1), pool, 3, {"path": 1.0})
    assert [c.kind for c in only_path] == ["pathology"] * 3


def test_a_lesion_share_always_draws_the_union_lesion_concept_and_path_the_others():
    pool = train3d.trainable_concepts()
    for seed in range(5):
        picked = pick_concepts(np.random.default_rng(seed), pool, 4, {"core": 0.25, "lesion": 0.5, "path": 0.25})
        names = [c.name for c in picked]
        assert names.count("lesion") == 1 and len(set(names)) == len(names) == 3
        assert sum(c.kind == "pathology" for c in picked) == 2 and sum(c.kind == "anatomy" for c in picked) == 1


@pytest.mark.parametrize("raw, message", [({"crop": [64, 64]}, "crop"), ({"crop": [4, 64, 64]}, "crop"),
                                          ({"crop": [64, 200, 64]}, "crop"),
                                          ({"concept_mix": {"lesions": 1.0}}, "concept_mix"),
                                          ({"concept_mix": {"core": 0.0}}, "concept_mix"),
                                          ({"concept_mix": {"core": "half"}}, "concept_mix"),
                                          ({"concept_mix": [0.5]}, "concept_mix"), ({"crop": 64}, "crop"),
                                          ({"crop": [64.5, 64, 64]}, "crop"),
                                          ({"p_label_contrast": 1.5}, "p_label_contrast"),
                                          ({"p_label_contrast": "most"}, "p_label_contrast")])
def test_config_rejects_bad_crops_and_mixes(raw, message):
    with pytest.raises(InputFileError, match=message):
        Train3DConfig.from_dict(raw)


def test_crops_have_the_asked_size_lie_inside_the_grid_and_mostly_hold_a_target():
    targets = torch.zeros(2, *NET_SHAPE)
    targets[1, 70:76, 5:9, 40:44] = 1  # near a corner: the crop is shifted to stay inside
    rng = np.random.default_rng(0)
    boxes = [crop_box(rng, targets, (32, 48, 32)) for _ in range(50)]
    for box in boxes:
        assert [b.stop - b.start for b in box] == [32, 48, 32]
        assert all(0 <= b.start and b.stop <= n for b, n in zip(box, NET_SHAPE))
    holding = sum(bool(targets[(1, *box)].any()) for box in boxes)
    assert 30 <= holding < 50  # about 80 % centred on the target, the rest anywhere


def test_loss_is_lower_for_the_right_mask():
    target = torch.zeros(1, 8, 8, 8)
    target[0, 2:6, 2:6, 2:6] = 1
    good = (target * 20 - 10)
    bad = -good
    present = torch.ones(1)
    assert mask_loss(good, torch.tensor([5.0]), target, present) < 0.2
    assert mask_loss(bad, torch.tensor([5.0]), target, present) > 2.0


def test_training_resumes_from_its_checkpoint(tmp_path, quick_bank):
    config = Train3DConfig(steps=2, checkpoint_every=1, workers=0, concepts_per_step=3)
    out = train3d.train_text_net(config, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["steps"] == 2
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 2
    loaded = load_net3d(out)
    assert "left hippocampus" in loaded.concepts and "lesion" in loaded.concepts
    # a longer run continues from step 2, not from scratch
    config.steps = 3
    train3d.train_text_net(config, tmp_path)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 3


def test_finetuning_adds_the_concept_and_leaves_the_encoder_unchanged(tmp_path):
    torch.manual_seed(0)
    start = save_net3d(TextConditionedNet3D(), tmp_path / "start.safetensors",
                       {"left hippocampus": np.full(384, 384 ** -0.5, np.float32)}, {}, half=False)
    x = torch.rand(7, 16, 16, 16)
    y = torch.zeros(16, 16, 16)
    y[4:10, 5:11, 6:12] = 1
    out = finetune_text_net([(x, y)], "left hippocampus", tmp_path / "tuned.safetensors", steps=30,
                            learning_rate=3e-3, start_from=start)
    before, after = load_net3d(start), load_net3d(out)
    for key, value in before.net.encoder.state_dict().items():
        torch.testing.assert_close(after.net.encoder.state_dict()[key], value, atol=1e-2, rtol=1e-2)  # float16 file
    text = torch.as_tensor(after.embedding("left hippocampus"))[None]
    with torch.no_grad():
        prob_after = torch.sigmoid(after.net(x[None], text)[0])[0, 0]
        prob_before = torch.sigmoid(before.net(x[None], text)[0])[0, 0]

    def dice(p):
        m = p > 0.5
        return float(2 * (m & (y > 0)).sum() / (m.sum() + (y > 0).sum()))

    assert dice(prob_after) > 0.8 > dice(prob_before)


def test_finetuning_without_pairs_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="no labelled volumes"):
        finetune_text_net([], "x", tmp_path / "w.safetensors")


def test_training_can_start_from_given_weights_and_train_on_crops(tmp_path, quick_bank):
    torch.manual_seed(5)
    start = save_net3d(TextConditionedNet3D(), tmp_path / "start.safetensors",
                       {"left hippocampus": np.full(384, 384 ** -0.5, np.float32)}, {}, half=False)
    config = Train3DConfig(steps=1, workers=0, concepts_per_step=2, learning_rate=1e-9, crop=[32, 32, 32],
                           init=str(start))
    out = train3d.train_text_net(config, tmp_path / "run")
    before, after = load_net3d(start).net.state_dict(), load_net3d(out).net.state_dict()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, atol=2e-3, rtol=2e-3)  # float16 file, no real step
