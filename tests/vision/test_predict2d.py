"""The shipped box-prompted segmenter on held-out synthetic scenes and simple pictures."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vision.conftest import box_of, dice, disc_picture
from voxelprompt.errors import VoxelPromptError
from voxelprompt.vision.predict2d import BoxSegmenter, OtsuSegmenter, PromptSpec
from voxelprompt.vision.scenes2d import ultrasound_scene


@pytest.fixture(scope="module")
def segmenter():
    return BoxSegmenter()


def test_shipped_weights_beat_otsu_on_held_out_scenes(segmenter):
    # seeds 9000-9015 are never used in training (training scenes are seed * 10**6 + i)
    net, otsu = [], []
    for seed in range(9000, 9016):
        scene = ultrasound_scene(seed)
        prompt = PromptSpec(tuple(map(float, scene.box)))
        net.append(dice(segmenter.segment(scene.image, [prompt])[0].mask, scene.mask))
        otsu.append(dice(OtsuSegmenter().segment(scene.image, [prompt])[0].mask, scene.mask))
    assert np.mean(net) > 0.85
    assert np.mean(net) > np.mean(otsu) + 0.05


def test_several_prompts_in_one_call_and_rgb_pictures(segmenter):
    grey, mask = disc_picture(shape=(140, 220), centre=(70, 60), radius=28)
    rgb = np.stack([grey, grey // 2, grey], -1)
    found = segmenter.segment(rgb, [PromptSpec(box_of(mask, 6)), PromptSpec(box_of(mask, 15))])
    assert len(found) == 2
    for inst in found:
        assert inst.mask.shape == (140, 220) and dice(inst.mask, mask) > 0.9 and 0.5 < inst.score <= 1


def test_a_point_alone_finds_the_object_and_a_negative_point_is_used(segmenter):
    picture, mask = disc_picture(shape=(200, 200), centre=(100, 100), radius=22)
    found = segmenter.segment(picture, [PromptSpec(None, [(100.0, 100.0)])])[0]
    assert dice(found.mask, mask) > 0.85
    with pytest.raises(VoxelPromptError, match="box or at least one positive point"):
        segmenter.segment(picture, [PromptSpec(None, [], [(5.0, 5.0)])])


def test_masks_stay_near_the_prompt(segmenter):
    picture, mask = disc_picture(shape=(200, 300), centre=(100, 80), radius=25)
    far = disc_picture(shape=(200, 300), centre=(100, 230), radius=25, seed=3)
    picture = np.where(far[1], far[0], picture)
    found = segmenter.segment(picture, [PromptSpec(box_of(mask, 8))])[0]
    assert dice(found.mask, mask) > 0.9 and not (found.mask & far[1]).any()
