"""Residual channels of the lesion network: the working grid and the repainted template."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from voxelprompt.errors import MaskError
from voxelprompt.vision.lesion_residual import (
    CHANNELS,
    ball,
    expected_image,
    from_working_grid,
    mirror_coordinates,
    normalise_scan,
    residual_channels,
    to_working_grid,
    working_shape,
)


def test_working_grid_is_isotropic_and_goes_back_onto_the_scan_grid():
    spacing = np.array([1.0, 1.0, 3.0])
    assert working_shape((10, 10, 4), spacing) == (7, 7, 7)  # 9 mm and 9 mm span at 1.5 mm
    x = np.indices((30, 24, 10)).astype(np.float32)
    ramp = x[0] * 1.0 + x[2] * 3.0  # linear in mm: trilinear resampling keeps it exactly
    work = to_working_grid(ramp, spacing)
    assert work.shape == working_shape(ramp.shape, spacing)
    assert work[2, 0, 4] == pytest.approx(2 * 1.5 + 4 * 1.5, abs=1e-4)
    back = from_working_grid(work, spacing, ramp.shape)
    np.testing.assert_allclose(back[:28, :, :9], ramp[:28, :, :9], atol=1e-3)


def test_expected_image_repaints_a_non_monotone_contrast_under_a_bias():
    rng = np.random.default_rng(0)
    t = np.clip(rng.random((24, 24, 24)), 0, 1).astype(np.float32)
    t = np.round(t * 4) / 4  # five tissues
    d = np.interp(t, [0, 0.25, 0.5, 0.75, 1.0], [0.2, 0.9, 0.4, 0.7, 0.1]).astype(np.float32)
    bias = np.exp(0.1 * np.linspace(-1, 1, 24))[:, None, None].astype(np.float32)
    expected, fitted = expected_image(d * bias, t, np.ones(t.shape, bool), spacing=3.0)
    error = np.median(np.abs(expected - d * bias))
    assert error < 0.015 and error < 0.5 * np.median(np.abs(d * bias - d))  # the bias is mostly taken out
    assert fitted[0].mean() < fitted[-1].mean()  # the bias's direction is found


def test_expected_image_follows_a_regional_bias_but_not_a_lesion():
    """A bias bump of a few centimetres (as scanners and the templates' own shading give) leaves the
    residual flat, while a 9 mm lesion 0.3 brighter than its tissue keeps its whole step."""
    rng = np.random.default_rng(0)
    shape = (56, 56, 56)
    t = (np.round(rng.random(shape) * 4) / 4).astype(np.float32)
    d = np.interp(t, [0, 0.25, 0.5, 0.75, 1.0], [0.2, 0.9, 0.4, 0.7, 0.1]).astype(np.float32)
    mm = np.indices(shape).astype(np.float32) * 1.5
    bump = 1 + 0.25 * np.exp(-((mm - 20.0) ** 2).sum(0) / (2 * 25.0**2))  # +25 % at (20, 20, 20) mm
    lesion = np.zeros(shape, bool)
    lesion[34:47, 34:47, 34:47] = ball(9.0, 1.5)  # centred at voxel (40, 40, 40)
    scan = (np.where(lesion, d + 0.3, d) * bump).astype(np.float32)
    expected, fitted = expected_image(scan, t, np.ones(shape, bool))
    residual = scan - expected
    far = ~ndimage.binary_dilation(lesion, iterations=3)
    assert np.percentile(np.abs(residual[far]), 95) < 0.06  # 0.10 with a 20 mm bias kernel
    assert fitted[13, 13, 13] > 1.12  # the bump's 1.25 there, mostly found
    assert np.median(residual[lesion]) == pytest.approx(0.3, abs=0.03)


def _world(shape: tuple[int, int, int], spacing: float, centre: np.ndarray) -> np.ndarray:
    """Atlas positions of a grid whose first axis runs right to left (x falls), centred on ``centre``."""
    g = np.indices(shape).astype(np.float32) * spacing
    world = np.stack([-g[0], g[1], g[2]]) - np.array([-centre[0], centre[1], centre[2]])[:, None, None, None]
    world[1] += 0.5 * np.sin(g[0] / 10)  # a smooth deformation
    return world.astype(np.float32)


def test_mirror_coordinates_find_the_voxel_across_the_midline():
    world = _world((41, 30, 20), 1.5, np.array([20 * 1.5 + 3.0, 0.0, 0.0]))  # midline 2 voxels off centre
    q = mirror_coordinates(world)
    # voxel 5 sits at x = -(5 * 1.5) + 33 = 25.5 mm; its mirror at -25.5 mm is voxel 39
    assert q[0, 5, 10, 10] == pytest.approx(39.0, abs=0.05)
    at_q = np.stack([ndimage.map_coordinates(w, q[:, 5:35, 5:25, 5:15].reshape(3, -1), order=1) for w in world])
    expected = world[:, 5:35, 5:25, 5:15].reshape(3, -1) * np.array([[-1.0], [1.0], [1.0]])
    np.testing.assert_allclose(at_q, expected, atol=0.05)


def test_a_painted_blob_stands_out_in_the_outlier_channel_only_where_it_is():
    rng = np.random.default_rng(1)
    labels = np.zeros((40, 40, 40), np.int16)
    labels[4:36, 4:36, 4:36] = 2  # white matter
    labels[16:24, 16:24, 4:36] = 4  # a ventricle
    t = np.where(labels == 2, 0.9, np.where(labels == 4, 0.2, 0.0)).astype(np.float32)
    scan = 1.0 - t + rng.normal(0, 0.01, t.shape)  # inverted contrast
    scan[labels == 0] = 0
    g = np.indices(t.shape) - np.array([28, 28, 20])[:, None, None, None]
    blob = (g ** 2).sum(0) <= 9
    scan[blob] += 0.35
    for centre in ([8, 10, 30], [31, 10, 30]):  # the same blob on both sides of the midline (x index 19.5)
        scan[((np.indices(t.shape) - np.array(centre)[:, None, None, None]) ** 2).sum(0) <= 9] += 0.35
    mirror = mirror_coordinates(_world((40, 40, 40), 1.5, np.array([19.5 * 1.5, 0.0, 0.0])))
    channels = residual_channels(normalise_scan(scan.astype(np.float32)), t, labels, mirror)
    assert channels.shape == (len(CHANNELS), 40, 40, 40)
    outlier = channels[CHANNELS.index("outlier")]
    assert outlier[28, 28, 20] > 0.15
    assert outlier[8, 8, 20] < 0.02 and outlier[10, 30, 10] < 0.02
    asymmetry = channels[CHANNELS.index("asymmetry")]
    assert asymmetry[28, 28, 20] > 0.15 and asymmetry[11, 28, 20] < -0.15  # the lone blob, and its mirror
    assert outlier[8, 10, 30] > 0.15 and abs(asymmetry[8, 10, 30]) < 0.05  # one of a symmetric pair
    assert channels[CHANNELS.index("csf"), 20, 20, 20] == 1 and channels[CHANNELS.index("brain"), 0, 0, 0] == 0


def test_residual_channels_refuse_a_scan_the_atlas_misses():
    with pytest.raises(MaskError, match="covers none of the scan"):
        residual_channels(np.ones((8, 8, 8), np.float32), np.ones((8, 8, 8), np.float32), np.zeros((8, 8, 8), int),
                          np.indices((8, 8, 8)).astype(np.float32))
