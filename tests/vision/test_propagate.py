"""Carrying a prompt across frames."""

from __future__ import annotations

import numpy as np

from tests.vision.conftest import dice, disc_picture
from voxelprompt.vision.predict2d import OtsuSegmenter, PromptSpec
from voxelprompt.vision.propagate import box_of, propagate


def _frames():
    """Nine frames: a disc drifting right and growing on frames 1..7, absent on frames 0 and 8."""
    frames, masks = [], []
    for k in range(9):
        if 1 <= k <= 7:
            picture, mask = disc_picture(centre=(60, 50 + 5 * k), radius=14 + 2 * k, seed=k)
        else:
            picture, mask = disc_picture(radius=0, seed=k)
            mask[:] = False
        frames.append(picture)
        masks.append(mask)
    return frames, masks


def test_box_of_widens_the_mask_bounds():
    mask = np.zeros((50, 50), bool)
    mask[10:20, 20:40] = True
    assert box_of(mask, margin=0.1) == (16.0, 7.0, 44.0, 23.0)


def test_propagation_follows_the_object_and_stops_where_it_ends():
    frames, masks = _frames()
    segmenter = OtsuSegmenter()
    start = 4
    first = segmenter.segment(frames[start], [PromptSpec(box_of(masks[start]))])[0]
    found = propagate(lambda pic, p: segmenter.segment(pic, [p])[0], lambda k: frames[k], 9, start, first)
    assert sorted(found) == [1, 2, 3, 4, 5, 6, 7]
    for k, inst in found.items():
        assert dice(inst.mask, masks[k]) > 0.9, k
