"""Finding image and mask pairs in the BUSI, Kvasir-SEG and ISIC 2018 layouts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from voxelprompt.errors import InputFileError
from voxelprompt.vision.datasets2d import find_pairs, split_pairs


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _mask(shape=(20, 30), x=5):
    m = np.zeros(shape, np.uint8)
    m[5:12, x:x + 8] = 255
    return m


def test_busi_layout_pairs_masks_beside_images_and_merges_extra_masks(tmp_path):
    picture = np.full((20, 30), 90, np.uint8)
    _write(tmp_path / "benign" / "benign (1).png", picture)
    _write(tmp_path / "benign" / "benign (1)_mask.png", _mask())
    _write(tmp_path / "benign" / "benign (1)_mask_1.png", _mask(x=18))
    _write(tmp_path / "malignant" / "malignant (1).png", picture)
    _write(tmp_path / "malignant" / "malignant (1)_mask.png", _mask())
    pairs = find_pairs(tmp_path, concept="breast tumor")
    assert sorted(p.label for p in pairs) == ["benign", "malignant"]
    benign = next(p for p in pairs if p.label == "benign")
    image, mask = benign.load()
    assert image.shape == (20, 30) and mask.sum() == 2 * 7 * 8


def test_kvasir_and_isic_layouts_pair_by_name(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    _write(tmp_path / "kvasir" / "images" / "cju0a.jpg", rgb)
    _write(tmp_path / "kvasir" / "masks" / "cju0a.jpg", _mask())
    pairs = find_pairs(tmp_path / "kvasir" / "images", tmp_path / "kvasir" / "masks", concept="polyp")
    assert len(pairs) == 1 and pairs[0].label == "polyp"
    image, mask = pairs[0].load()
    assert image.shape == (20, 30, 3) and abs(int(mask.sum()) - 56) <= 4  # JPEG edges blur a little
    _write(tmp_path / "isic" / "Input" / "ISIC_0000000.jpg", rgb)
    _write(tmp_path / "isic" / "GroundTruth" / "ISIC_0000000_segmentation.png", _mask())
    pairs = find_pairs(tmp_path / "isic" / "Input", tmp_path / "isic" / "GroundTruth", concept="skin lesion")
    assert [p.image.name for p in pairs] == ["ISIC_0000000.jpg"]


def test_no_pairs_is_a_clear_error(tmp_path):
    _write(tmp_path / "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(InputFileError, match="no image and mask pairs"):
        find_pairs(tmp_path)
    with pytest.raises(InputFileError, match="does not exist"):
        find_pairs(tmp_path / "missing")


def test_split_is_reproducible_and_keeps_both_sides():
    items = list(range(10))
    train, held = split_pairs(items, 0.2, seed=3)
    assert len(held) == 2 and sorted(train + held) == items
    assert split_pairs(items, 0.2, seed=3) == (train, held)
    assert [len(s) for s in split_pairs([1, 2], 0.1, seed=0)] == [1, 1]


def test_large_pictures_are_downscaled_with_their_masks(tmp_path):
    _write(tmp_path / "big.png", np.zeros((300, 2000), np.uint8))
    mask = np.zeros((300, 2000), np.uint8)
    mask[100:200, 500:1500] = 255
    _write(tmp_path / "big_mask.png", mask)
    image, small = find_pairs(tmp_path)[0].load(max_side=1000)
    assert image.shape == (150, 1000) and small.shape == (150, 1000)
    assert small.sum() == 50 * 500
