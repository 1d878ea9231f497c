"""The SynthSeg-style generator: grid, determinism, soft targets, synthetic pathology."""

from __future__ import annotations

import numpy as np
import pytest

from voxelprompt.vision import synth3d
from voxelprompt.vision.concepts3d import ENHANCING, NECROSIS, concept_by_name, phrases_for, training_concepts
from voxelprompt.vision.synth3d import NET_SHAPE, make_sample

NAMES = ["left hippocampus", "right lateral ventricle", "lesion", "tumor core"]


def test_network_grid_is_2mm_ras_and_coordinate_channels_are_mni_over_100():
    affine = synth3d.net_affine()
    np.testing.assert_allclose(np.diag(affine)[:3], [2.0, 2.0, 2.0])
    coords = synth3d.coordinate_channels()
    assert coords.shape == (3, *NET_SHAPE)
    np.testing.assert_allclose(coords[:, 0, 0, 0], np.array(synth3d.NET_ORIGIN) / 100)
    np.testing.assert_allclose(coords[:, 10, 20, 30] * 100, (affine @ [10, 20, 30, 1])[:3], atol=1e-4)


def test_training_concepts_cover_anatomy_sides_composites_and_pathology():
    by_name = concept_by_name()
    assert by_name["left hippocampus"].ids == (17,)
    assert set(by_name["hippocampus"].ids) == {17, 53}
    assert set(by_name["tumor core"].ids) == {NECROSIS, ENHANCING}
    assert {c.kind for c in training_concepts()} == {"anatomy", "composite", "pathology"}
    phrases = phrases_for(next(r for r in __import__("voxelprompt.concepts", fromlist=["x"]).load_vocabulary().refs()
                               if r.name == "left hippocampus"))
    assert "segment the left hippocampus" in phrases and "lh hippocampus" in phrases


def test_same_seed_gives_the_same_sample_and_targets_are_soft_masks():
    concepts = [concept_by_name()[n] for n in NAMES]
    a = make_sample(np.random.default_rng(3), concepts, p_pathology=0.0)
    b = make_sample(np.random.default_rng(3), concepts, p_pathology=0.0)
    assert a.inputs.shape == (synth3d.IN_CHANNELS, *NET_SHAPE)
    assert a.targets.shape == (4, *NET_SHAPE)
    np.testing.assert_array_equal(a.inputs.numpy(), b.inputs.numpy())
    assert float(a.targets.min()) >= 0.0 and float(a.targets.max()) <= 1.0 + 1e-5
    assert float(a.inputs[0].min()) >= 0.0 and float(a.inputs[0].max()) <= 1.0
    # anatomy present, no pathology drawn: hippocampus ~4 mL = ~500 voxels of 8 mm3
    assert a.present.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert 250 < float((a.targets[0] > 0.5).sum()) < 900
    assert float(a.targets[2].sum()) == 0.0


def test_pathology_is_painted_and_labelled():
    concepts = [concept_by_name()["lesion"]]
    found = []
    for seed in range(6):
        s = make_sample(np.random.default_rng(seed), concepts, p_pathology=1.0)
        found.append(float((s.targets[0] > 0.5).sum()))
    assert sum(v >= 3 for v in found) >= 5


@pytest.mark.parametrize("shape", [(9, 11, 13)])
def test_blob_stays_inside_its_bounds(shape):
    mask = synth3d.blob(np.random.default_rng(0), shape, np.array([4.0, 5.0, 6.0]), (2.0, 2.0, 2.0), 0.2)
    assert mask.shape == shape and 10 < mask.sum() < 80
    assert mask[4, 5, 6]
