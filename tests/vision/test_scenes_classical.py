"""Synthetic ultrasound-like scenes and the smoothed-Otsu baseline."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from tests.vision.conftest import box_of, dice, disc_picture
from voxelprompt.vision.classical import box_separability, clip_box, otsu_in_box
from voxelprompt.vision.scenes2d import ultrasound_scene


def test_scene_is_reproducible_and_the_box_holds_the_lesion():
    a, b = ultrasound_scene(7), ultrasound_scene(7)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) and a.box == b.box
    assert a.image.dtype == np.uint8 and a.image.shape == a.mask.shape
    x0, y0, x1, y1 = a.box
    inside = np.zeros_like(a.mask)
    inside[y0:y1, x0:x1] = True
    assert a.mask.any() and not (a.mask & ~inside).any()
    assert not np.array_equal(ultrasound_scene(8).image[:50, :50], a.image[:50, :50])


def test_lesion_polarity_shows_in_the_picture():
    for seed in range(12):
        scene = ultrasound_scene(seed)
        ring = ndi.binary_dilation(scene.mask, iterations=8) & ~ndi.binary_dilation(scene.mask, iterations=3)
        inner = ndi.binary_erosion(scene.mask, iterations=3)
        smooth = ndi.gaussian_filter(scene.image.astype(float), 2)
        if scene.polarity == "dark":
            assert smooth[inner].mean() < smooth[ring].mean(), seed
        else:
            assert smooth[inner].mean() > smooth[ring].mean(), seed


def test_otsu_in_box_on_a_clean_disc():
    picture, mask = disc_picture()
    found = otsu_in_box(picture, box_of(mask, 10))
    assert dice(found, mask) > 0.95


def test_clip_box_rounds_sorts_and_keeps_inside():
    assert clip_box((30.4, 50.6, 10.2, -5), (40, 20)) == (10, 0, 20, 40)
    assert clip_box((5, 5, 5, 5), (40, 40)) == (5, 5, 7, 7)


def test_box_separability_is_near_zero_for_noise_and_high_for_a_disc():
    picture, mask = disc_picture()
    assert box_separability(picture, box_of(mask, 10)) > 0.7
    noise = np.random.default_rng(1).normal(128, 20, (120, 160))
    assert box_separability(noise, (20, 20, 100, 100)) < 0.15
