"""From volumes to pictures and back: frames, world-mm boxes, prompt files and checks."""

from __future__ import annotations

import numpy as np
import pytest

from voxelprompt.engines.prompt2d import (
    check_prompt,
    frame_picture,
    prompts_from_json,
    prompts_in_world_mm,
    world_box_to_pixels,
)
from voxelprompt.errors import VoxelPromptError
from voxelprompt.vision.predict2d import PromptSpec
from voxelprompt.volume import Volume, VolumeMetadata


def test_frame_picture_is_rows_by_columns():
    arr = np.arange(4 * 3 * 2).reshape(4, 3, 2)  # i (columns) = 4, j (rows) = 3, 2 frames
    vol = Volume(arr, np.eye(4))
    assert frame_picture(vol, 1).shape == (3, 4) and frame_picture(vol, 1)[2, 3] == arr[3, 2, 1]
    with pytest.raises(VoxelPromptError, match="frame 2 is outside"):
        frame_picture(vol, 2)


def test_world_box_maps_to_pixel_edges_on_flipped_axes():
    affine = np.diag([-0.5, 2.0, 3.0, 1.0])
    affine[:3, 3] = (10.0, -20.0, 0.0)
    vol = Volume(np.zeros((40, 30, 5), np.float32), affine, VolumeMetadata(modality="MR"))
    # x = 10 - 0.5 i  ->  i = (10 - x) / 0.5;  y = -20 + 2 j  ->  j = (y + 20) / 2
    assert world_box_to_pixels(vol, (5.0, -10.0, 0.0, 0.0), 2) == (10.5, 5.5, 20.5, 10.5)
    sagittal = Volume(np.zeros((40, 30, 5), np.float32), np.array([[0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0],
                                                                   [0, 0, 0, 1]]))
    with pytest.raises(VoxelPromptError, match="axial"):
        world_box_to_pixels(sagittal, (0, 0, 5, 5), 2)


def test_prompts_are_world_mm_only_on_positioned_volumes():
    physical = np.diag([0.5, 0.5, 2.0, 1.0])
    assert prompts_in_world_mm(Volume(np.zeros((8, 8, 4)), physical, VolumeMetadata(modality="MR")))
    assert not prompts_in_world_mm(Volume(np.zeros((8, 8, 4)), physical, VolumeMetadata(modality="US")))
    assert not prompts_in_world_mm(Volume(np.zeros((8, 8, 1)), physical, VolumeMetadata(modality="MR")))
    assert not prompts_in_world_mm(Volume(np.zeros((8, 8, 4)), np.eye(4),
                                          VolumeMetadata(format="raster", spatial_unit="pixel")))


def test_prompt_file_and_checks():
    specs = prompts_from_json([{"box": [1, 2, 30, 40]}, {"points": [[5, 6]], "negative_points": [[7, 8]]}])
    assert specs == [PromptSpec((1.0, 2.0, 30.0, 40.0)), PromptSpec(None, [(5.0, 6.0)], [(7.0, 8.0)])]
    for bad, words in (([], "non-empty"), ([{"box": [1, 2, 3]}], "4 numbers"), ([{"points": [[1]]}], "malformed")):
        with pytest.raises(VoxelPromptError, match=words):
            prompts_from_json(bad)
    check_prompt(PromptSpec((0, 0, 10, 10), [(9.5, 9.5)]), (10, 10))
    with pytest.raises(VoxelPromptError, match="outside"):
        check_prompt(PromptSpec((10, 0, 20, 5)), (10, 10))
    with pytest.raises(VoxelPromptError, match="empty"):
        check_prompt(PromptSpec((5, 5, 5, 9)), (10, 10))
