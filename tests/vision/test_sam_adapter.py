"""The SAM-family adapter with the real SAM architecture at random weights (a tiny configuration)."""

from __future__ import annotations

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

from voxelprompt.errors import InputFileError  # noqa: E402
from voxelprompt.vision.predict2d import PromptSpec  # noqa: E402
from voxelprompt.vision.sam_adapter import SamSegmenter, as_rgb8  # noqa: E402


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    from transformers import (
        SamConfig,
        SamImageProcessorPil,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    vision = SamVisionConfig(hidden_size=32, output_channels=32, num_hidden_layers=2, num_attention_heads=2,
                             image_size=256, patch_size=16, window_size=4, global_attn_indexes=(1,),
                             num_pos_feats=16, mlp_dim=64)
    config = SamConfig(vision_config=vision,
                       prompt_encoder_config=SamPromptEncoderConfig(hidden_size=32, image_size=256, patch_size=16),
                       mask_decoder_config=SamMaskDecoderConfig(hidden_size=32, mlp_dim=64, num_hidden_layers=2,
                                                                num_attention_heads=2, iou_head_hidden_dim=32))
    folder = tmp_path_factory.mktemp("tiny-sam")
    SamModel(config).save_pretrained(folder)
    processor = SamProcessor(image_processor=SamImageProcessorPil(size={"longest_edge": 256},
                                                                   pad_size={"height": 256, "width": 256}))
    processor.save_pretrained(folder)
    return folder


def test_adapter_loads_and_returns_masks_at_the_picture_size(tiny_sam):
    sam = SamSegmenter(tiny_sam)
    assert sam.kind == "sam"
    picture = (np.random.default_rng(0).random((200, 300)) * 255).astype(np.uint8)  # rows != cols
    found = sam.segment(picture, [PromptSpec((10, 20, 110, 120), [(50, 60)], [(70, 80)]), PromptSpec(None, [(5, 5)])])
    assert len(found) == 2
    for inst in found:
        assert inst.mask.shape == (200, 300) and inst.mask.dtype == bool
        assert inst.probability.shape == (200, 300) and 0 <= inst.score <= 1


def test_box_and_points_are_scaled_with_the_picture(tiny_sam):
    sam = SamSegmenter(tiny_sam)
    inputs = sam._inputs(as_rgb8(np.zeros((200, 300), np.uint8)), PromptSpec((30, 60, 150, 120), [(75, 100)], []))
    scale_x, scale_y = 256 / 300, round(200 * 256 / 300) / 200  # longest edge to 256, aspect kept
    assert np.allclose(inputs["input_boxes"][0, 0].numpy(), [30 * scale_x, 60 * scale_y, 150 * scale_x, 120 * scale_y],
                       atol=1e-3)
    assert np.allclose(inputs["input_points"][0, 0, 0].numpy(), [75 * scale_x, 100 * scale_y], atol=1e-3)
    assert inputs["input_labels"].tolist() == [[[1]]]


def test_missing_or_foreign_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        SamSegmenter(tmp_path / "nothing")
    with pytest.raises(InputFileError, match="cannot load"):
        SamSegmenter(tmp_path)


def test_as_rgb8_windows_non_byte_pictures():
    rgb = as_rgb8(np.linspace(-1000, 3000, 100).reshape(10, 10))
    assert rgb.shape == (10, 10, 3) and rgb.dtype == np.uint8 and rgb.min() == 0 and rgb.max() == 255
