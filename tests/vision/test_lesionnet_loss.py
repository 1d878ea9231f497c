"""The fit step's loss in scripts/train_lesionnet.py: with ``crop_dice``, a missed small lesion costs as a tumour does."""

import pytest
import torch


def test_crop_dice_adds_the_mean_dice_loss_of_the_crops_holding_a_lesion(train_script):
    target = torch.zeros(2, 1, 2, 2, 2)
    target[0] = 1  # a large lesion filling the first crop, found
    target[1, 0, 0, 0, 0] = 1  # a one-voxel lesion in the second crop, missed
    logits = torch.full_like(target, -30.0)
    logits[0] = 30.0  # sure of the first crop's lesion, blind to the second's
    plain, weighted = train_script.loss_fn(logits, target), train_script.loss_fn(logits, target, crop_dice=True)
    # batch Dice (2*8+1)/(8+9+1) barely notices the miss; the crops' Dice are 1 and (0+1)/(0+1+1)
    assert float(weighted - plain) == pytest.approx(1 - (1.0 + 0.5) / 2, abs=1e-5)
    assert float(plain) == pytest.approx(30 / 16 + 1 / 18, abs=1e-4)  # cross-entropy of the one missed voxel


def test_crop_dice_changes_nothing_in_a_batch_without_lesions(train_script):
    logits = torch.linspace(-3, 3, 16).reshape(2, 1, 2, 2, 2)
    target = torch.zeros_like(logits)
    assert float(train_script.loss_fn(logits, target, crop_dice=True)) == float(train_script.loss_fn(logits, target))
