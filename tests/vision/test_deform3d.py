"""Test-time deformable alignment of the atlas prior (vision.deform3d)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxelprompt.vision.deform3d import _template, align_prior, local_ncc
from voxelprompt.vision.synth3d import NET_SHAPE


def test_local_ncc_ignores_contrast_inversion_and_scaling():
    a = torch.rand(12, 12, 12, generator=torch.Generator().manual_seed(0))
    assert float(local_ncc(a, a)) == pytest.approx(1.0, abs=2e-3)  # the 1e-5 guard of the variances
    assert float(local_ncc(a, 0.3 - 2.0 * a)) > 0.9  # < 1 only where the zero padding breaks the relation
    assert float(local_ncc(a, torch.rand(12, 12, 12))) < 0.3  # chance level of a squared correlation over 125 voxels


def test_align_prior_recovers_a_known_shift_in_an_inverted_contrast():
    template = _template(1)
    shift_vox = 2  # 4 mm along x: the scan shows the atlas point q + 4 mm at q
    image = torch.zeros(NET_SHAPE)
    image[:-shift_vox] = template[shift_vox:]
    image = torch.where(image > 0.02, 1.0 - 0.9 * image, torch.zeros(()))  # inverted, background kept at 0
    result = align_prior(image)
    brain = (template > 0.1).numpy()
    d = result.displacement_mm.numpy()
    assert result.displacement_mm.shape == (3, *NET_SHAPE)
    assert np.median(d[0][brain]) == pytest.approx(4.0, abs=0.8)
    assert abs(np.median(d[1][brain])) < 0.8 and abs(np.median(d[2][brain])) < 0.8
    assert result.similarity > 0.3  # a mean over the whole grid, where background windows score 0


def test_align_prior_refuses_an_image_off_the_network_grid():
    with pytest.raises(ValueError, match="network grid"):
        align_prior(torch.zeros(10, 10, 10))
