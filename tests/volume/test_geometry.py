"""Geometry operations keep every value at its world position."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tests.conftest import make_ellipsoid, oblique_affine
from voxelprompt.errors import GeometryError, MaskError
from voxelprompt.volume import Volume
from voxelprompt.volume.geometry import crop, crop_to_mask, pad, reorient, resample_to


def _random_volume(shape=(9, 7, 5), spacing=(0.9, 1.3, 2.5), signs=(-1, -1, -1)):
    data = np.random.default_rng(0).random(shape).astype(np.float32)
    return Volume(data, oblique_affine(spacing, signs, angles=(0, 0, 0)))


@pytest.mark.parametrize("codes", ["RAS", "LPS", "SAL", "IRP"])
def test_reorient_keeps_world_positions(codes):
    vol = _random_volume()
    out = reorient(vol, codes)
    assert out.orientation == codes
    for ijk in [(0, 0, 0), (8, 6, 4), (3, 2, 1)]:
        world = vol.world_from_voxel(ijk)
        new_ijk = np.rint(out.voxel_from_world(world)).astype(int)
        assert out.array[tuple(new_ijk)] == vol.array[ijk]
    assert sorted(out.spacing) == pytest.approx(sorted(vol.spacing))


def test_reorient_rejects_bad_codes():
    with pytest.raises(GeometryError, match="not an orientation"):
        reorient(_random_volume(), "RRS")


def test_resample_identity_and_half_voxel_shift():
    vol = _random_volume()
    same = resample_to(vol, vol)
    np.testing.assert_array_equal(same.array, vol.array)
    # a grid shifted by exactly one voxel along i samples the neighbouring values
    shifted = Volume(np.zeros(vol.shape), vol.affine @ np.array(
        [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]))
    out = resample_to(vol, shifted)
    np.testing.assert_allclose(out.array[:-1], vol.array[1:], atol=1e-6)
    assert np.all(out.array[-1] == 0)  # outside the field of view: fill value


def test_linear_resampling_matches_scipy_on_an_axis_aligned_grid():
    vol = Volume(np.random.default_rng(3).random((10, 10, 10)), np.diag([2.0, 2.0, 2.0, 1.0]))
    fine = Volume(np.zeros((19, 19, 19)), np.diag([1.0, 1.0, 1.0, 1.0]))
    out = resample_to(vol, fine)
    np.testing.assert_allclose(out.array[::2, ::2, ::2], vol.array, atol=1e-6)
    assert out.array[1, 1, 1] == pytest.approx(vol.array[:2, :2, :2].mean(), abs=1e-6)
    # between voxels along i only: the mean of the two neighbours, as scipy's order-1 zoom gives
    ref = ndimage.map_coordinates(vol.array, [[0.5], [0.0], [0.0]], order=1)[0]
    assert out.array[1, 0, 0] == pytest.approx(ref, abs=1e-6)


def test_label_resampling_keeps_labels_and_volumes():
    shape = (60, 60, 30)
    affine = oblique_affine((1.0, 1.0, 2.0), (1, 1, 1), angles=(0, 0, 0), origin=(0, 0, 0))
    labels = np.zeros(shape, np.int16)
    labels[10:30, 10:40, 5:20] = 4
    labels[30:50, 20:50, 8:25] = 1017
    labels[40:42, 5:15, 5:25] = 9  # a thin structure, 2 voxels wide
    src = Volume(labels, affine)
    target = Volume(np.zeros((80, 80, 80)), oblique_affine((0.8, 0.8, 0.8), (1, 1, 1), angles=(5, 3, 8),
                                                         origin=(-2, -2, -2)))
    out = resample_to(src, target, interpolation="label")
    assert out.array.dtype == np.int16
    assert set(np.unique(out.array)) == {0, 4, 9, 1017}
    for label in (4, 1017, 9):
        v_src = np.sum(labels == label) * 2.0
        v_out = np.sum(out.array == label) * 0.8 ** 3
        assert v_out == pytest.approx(v_src, rel=0.12 if label == 9 else 0.04)
    # nearest keeps the same label set
    near = resample_to(src, target, interpolation="nearest")
    assert set(np.unique(near.array)) <= {0, 4, 9, 1017}


def test_label_resampling_rejects_float_images():
    vol = _random_volume()
    with pytest.raises(MaskError, match="integer"):
        resample_to(vol, vol, interpolation="label", world_transform=np.eye(4))


def test_resample_refuses_pixel_grids():
    pic = Volume(np.zeros((4, 4, 1)), np.eye(4))
    pic = pic.with_array(pic.array, spatial_unit="pixel")
    with pytest.raises(GeometryError, match="pixel"):
        resample_to(pic, _random_volume())


def test_crop_and_pad_keep_world_positions():
    vol = _random_volume()
    c = crop(vol, (2, 1, 1), (7, 6, 4))
    assert c.shape == (5, 5, 3)
    np.testing.assert_allclose(c.world_from_voxel([0, 0, 0]), vol.world_from_voxel([2, 1, 1]))
    assert c.array[0, 0, 0] == vol.array[2, 1, 1]
    p = pad(vol, (1, 2, 3), (0, 0, 1), fill=-5)
    assert p.shape == (10, 9, 9)
    assert p.array[1, 2, 3] == vol.array[0, 0, 0] and p.array[0, 0, 0] == -5
    np.testing.assert_allclose(p.world_from_voxel([1, 2, 3]), vol.world_from_voxel([0, 0, 0]))
    with pytest.raises(GeometryError, match="does not fit"):
        crop(vol, (0, 0, 0), (10, 7, 5))


def test_crop_to_mask_with_margin_in_mm():
    e = make_ellipsoid()
    cropped = crop_to_mask(e.mask, e.mask.array, margin_mm=5.0)
    assert cropped.array.sum() == e.mask.array.sum()
    idx = np.argwhere(cropped.array)
    margins = np.minimum(idx.min(0), np.array(cropped.shape) - 1 - idx.max(0))
    np.testing.assert_array_equal(margins, np.ceil(5.0 / np.array(e.mask.spacing)).astype(int))
