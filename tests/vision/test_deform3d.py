"""Test-time deformable alignment of the atlas prior (vision.deform3d)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from voxelprompt.vision.deform3d import (
    _box,
    _masked_outliers,
    _mirror_index,
    _template,
    align_prior,
    box_stats,
    brain_box,
    consistency_field,
    consistency_path,
    local_ncc,
    moving_t1,
    painted_labels,
)
from voxelprompt.vision.weights import read_safetensors
from voxelprompt.vision.synth3d import NET_ORIGIN, NET_SHAPE, NET_SPACING


def test_local_ncc_ignores_contrast_inversion_and_scaling():
    a = torch.rand(12, 12, 12, generator=torch.Generator().manual_seed(0))
    assert float(local_ncc(a, a)) == pytest.approx(1.0, abs=2e-3)  # the 1e-5 guard of the variances
    assert float(local_ncc(a, 0.3 - 2.0 * a)) > 0.9  # < 1 only where the zero padding breaks the relation
    assert float(local_ncc(a, torch.rand(12, 12, 12))) < 0.3  # chance level of a squared correlation over 125 voxels


def test_the_box_mean_passes_back_the_gradient_autograd_would():
    torch.manual_seed(0)
    a, b = torch.rand(9, 10, 11, requires_grad=True), torch.rand(9, 10, 11)
    local_ncc(a, b, b_stats=box_stats(b)).backward()
    fast = a.grad.clone()
    a.grad = None
    s = _box(torch.stack([a, b, a * a, b * b, a * b])[None], 5)[0]  # the same similarity, autograd all the way
    ma, mb, aa, bb, ab = s
    cov = ab - ma * mb
    plain = (cov * cov / ((aa - ma * ma) * (bb - mb * mb) + 1e-5)).mean()
    plain.backward()
    assert torch.allclose(fast, a.grad, rtol=1e-4, atol=1e-6)
    assert float(local_ncc(a, b).detach()) == pytest.approx(float(plain.detach()), rel=1e-5)


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


def test_the_label_consistent_t1_looks_more_like_the_label_map_than_the_plain_t1():
    # The shipped field (half of the alignment of the T1 to the painted label map) raises the local
    # cross-correlation with the painted label map from 0.255 to 0.301 (measured).
    painted = torch.nn.functional.avg_pool3d(torch.as_tensor(painted_labels())[None, None], 2)[0, 0][brain_box()]
    plain = float(local_ncc(_template(1, "icbm2009a"), painted))
    consistent = float(local_ncc(_template(1, "label-consistent"), painted))
    assert plain == pytest.approx(0.255, abs=0.005)
    assert consistent == pytest.approx(0.301, abs=0.005)


def test_the_consistency_field_is_shipped_with_its_scale_and_stays_small():
    state, metadata = read_safetensors(consistency_path())
    assert metadata["scale"] == "0.5" and metadata["built_by"] == "scripts/build_template_consistency.py"
    field = consistency_field()
    assert field.shape == (3, *NET_SHAPE) and state["displacement_mm"].dtype == torch.float16
    size = field.norm(dim=0).numpy()
    assert 3.0 < size.max() < 6.0  # 4.9 mm at most (measured); a bend, not a different brain


def test_moving_t1_refuses_an_unknown_image():
    with pytest.raises(ValueError, match="moving image must be one of"):
        moving_t1("colin27")
    assert moving_t1("icbm2009a").shape == moving_t1("label-consistent").shape


def test_align_prior_refuses_an_image_off_the_network_grid():
    with pytest.raises(ValueError, match="network grid"):
        align_prior(torch.zeros(10, 10, 10))


def _ball(shape: tuple[int, ...], centre, radius: float) -> torch.Tensor:
    g = np.indices(shape).astype(float)
    return torch.as_tensor(((g - np.asarray(centre, float)[:, None, None, None]) ** 2).sum(0) <= radius ** 2)


def test_mirror_index_maps_mni_x_to_minus_x():
    index = _mirror_index(NET_SHAPE[0], 1, 0)
    x = NET_ORIGIN[0] + NET_SPACING * np.arange(NET_SHAPE[0])
    assert x[index[10]] == pytest.approx(-x[10])  # -58 mm <-> +58 mm
    assert x[index[60]] == pytest.approx(-x[60])
    pooled = _mirror_index(NET_SHAPE[0] // 2, 2, 0)  # 4 mm voxels: within half a voxel
    centres = NET_ORIGIN[0] + NET_SPACING * (2 * np.arange(NET_SHAPE[0] // 2) + 0.5)
    assert abs(centres[pooled[5]] + centres[5]) <= 2.0


def test_masked_outliers_replace_a_one_sided_blob_only():
    shape = (40, 24, 24)
    mirror = torch.arange(shape[0]).flip(0)  # a grid symmetric about its middle
    predicted = torch.full(shape, 0.5)
    noise = 0.1 * torch.randn(shape, generator=torch.Generator().manual_seed(0))  # the residual spread of real scans
    lesion = _ball(shape, (10, 12, 12), 3)  # on one side
    both = _ball(shape, (6, 5, 18), 2.5) | _ball(shape, (33, 5, 18), 2.5)  # the same difference on both sides
    strand = torch.zeros(shape, dtype=torch.bool)
    strand[25, 12, 3:21] = True  # one voxel thin, on one side
    image = predicted + noise + 0.3 * lesion + 0.3 * both + 0.3 * strand
    out = _masked_outliers(image, predicted, torch.ones(shape, dtype=torch.bool), mirror)
    replaced = out != image
    assert float(replaced[lesion].float().mean()) > 0.95
    assert not replaced[both].any()
    assert not replaced[strand].any()
    near = torch.nn.functional.max_pool3d(lesion[None, None].float(), 5, 1, 2)[0, 0] > 0  # within 2 voxels
    assert not replaced[~near].any()  # the lesion and its edge, nothing else
    assert torch.equal(out[replaced], predicted[replaced])


def test_robust_alignment_does_not_bend_the_template_into_a_lesion():
    template = _template(1)
    centre = [(-26 - NET_ORIGIN[0]) / 2, (-10 - NET_ORIGIN[1]) / 2, (26 - NET_ORIGIN[2]) / 2]  # left white matter
    lesion = _ball(NET_SHAPE, centre, 4.5)  # radius 9 mm
    image = torch.where(lesion, torch.full((), 0.15), template)  # a dark lesion in the template itself
    bend = {robust: np.sqrt((align_prior(image, robust=robust).displacement_mm.numpy() ** 2).sum(0))[lesion.numpy()]
            for robust in (False, True)}
    assert bend[False].mean() > 2.5  # mm: the plain alignment pulls the anatomy into the lesion (3.3 measured)
    assert bend[True].mean() < 0.5 * bend[False].mean()  # 1.3 measured
