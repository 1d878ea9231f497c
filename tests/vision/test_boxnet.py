"""Cutting, resizing and pasting back the box's neighbourhood, and the prompt channels."""

from __future__ import annotations

import numpy as np
import torch

from tests.vision.conftest import dice, disc_picture
from voxelprompt.vision.boxnet import INPUT_PX, BoxPromptNet, Roi, cut, network_input, paste, prompt_channels, roi_for


def test_roi_widens_the_box_by_the_context_margin():
    roi = roi_for((20, 40, 120, 90), context=0.2)
    assert roi == Roi(0, 30, 140, 100)
    small = roi_for((10, 10, 12, 12))
    assert small.size[0] >= 16 and small.size[1] >= 16


def test_cut_pads_with_edge_values_outside_the_picture():
    array = np.arange(20, dtype=float).reshape(4, 5)
    piece = cut(array, Roi(-2, -1, 3, 2))
    assert piece.shape == (3, 5)
    assert piece[0].tolist() == [0, 0, 0, 1, 2]  # row -1 repeats row 0, columns -2 and -1 repeat column 0
    assert piece[2].tolist() == [5, 5, 5, 6, 7]


def test_cut_resize_and_paste_round_trip_keeps_the_mask_in_place():
    _, mask = disc_picture(shape=(150, 200), centre=(70, 120), radius=30)
    roi = roi_for((85, 35, 155, 105))
    small = torch.nn.functional.interpolate(torch.from_numpy(cut(mask.astype(np.float32), roi))[None, None],
                                            size=(INPUT_PX, INPUT_PX), mode="area")[0, 0]
    back = paste(small, roi, mask.shape) > 0.5
    assert back.shape == mask.shape
    assert dice(back, mask) > 0.97


def test_prompt_channels_place_box_and_points():
    roi = Roi(0, 0, 96, 192)  # x is squeezed 1x, y 2x into INPUT_PX
    ch = prompt_channels(roi, (24, 48, 72, 144), [(47, 95)], [(0, 0)])
    assert ch.shape == (3, INPUT_PX, INPUT_PX)
    rows, cols = np.nonzero(ch[0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (24, 71, 24, 71)
    assert np.unravel_index(np.argmax(ch[1]), ch[1].shape) == (47, 47)  # pixel centres 47.5 and 95.5 / 2
    assert ch[2][0, 0] > 0.9 and ch[2][40, 40] < 1e-6


def test_network_runs_on_a_batch():
    picture, _mask = disc_picture()
    x = network_input(picture.astype(np.float32), roi_for((40, 30, 100, 90)), (40, 30, 100, 90), [], [])
    assert x.shape == (4, INPUT_PX, INPUT_PX)
    logits, quality = BoxPromptNet().eval()(torch.stack([x, x]))
    assert logits.shape == (2, 1, INPUT_PX, INPUT_PX) and quality.shape == (2,)
