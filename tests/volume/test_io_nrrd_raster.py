"""NRRD and picture formats: geometry checked with SimpleITK, pixels with Pillow/tifffile."""

from __future__ import annotations

import nrrd
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image

from tests.conftest import oblique_affine
from voxelprompt.volume import Volume, load, save, save_mask


def _sitk_affine_ras(img: sitk.Image) -> np.ndarray:
    lps = np.eye(4)
    lps[:3, :3] = np.array(img.GetDirection()).reshape(3, 3) * np.array(img.GetSpacing())
    lps[:3, 3] = img.GetOrigin()
    return np.diag([-1, -1, 1, 1]) @ lps


def test_nrrd_round_trip_keeps_oblique_geometry(tmp_path):
    affine = oblique_affine((0.9, 1.3, 2.5))
    data = np.random.default_rng(1).integers(0, 500, (12, 10, 7)).astype(np.int16)
    out = save(Volume(data, affine), tmp_path / "v.nrrd")
    back = load(out)
    np.testing.assert_allclose(back.affine, affine, atol=1e-6)
    np.testing.assert_array_equal(back.array, data)
    img = sitk.ReadImage(str(out))  # an independent reader agrees on world geometry and values
    np.testing.assert_allclose(_sitk_affine_ras(img), affine, atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img).transpose(2, 1, 0), data)


def test_nrrd_written_by_pynrrd_in_lps_space(tmp_path):
    data = np.zeros((5, 6, 7), np.uint8)
    data[1, 2, 3] = 9
    header = {"space": "left-posterior-superior",
              "space directions": np.diag([0.5, 0.8, 2.0]),
              "space origin": np.array([10.0, 20.0, 30.0])}
    nrrd.write(str(tmp_path / "lps.nrrd"), data, header)
    vol = load(tmp_path / "lps.nrrd")
    # voxel (1, 2, 3) is at LPS (10.5, 21.6, 36) = RAS (-10.5, -21.6, 36)
    np.testing.assert_allclose(vol.world_from_voxel([1, 2, 3]), [-10.5, -21.6, 36.0])
    assert vol.array[1, 2, 3] == 9 and vol.orientation == "LPS"


def test_png_grayscale_is_in_pixels_with_columns_first(tmp_path):
    rows_cols = np.zeros((30, 50), np.uint8)
    rows_cols[5, 40] = 200  # row 5, column 40
    Image.fromarray(rows_cols).save(tmp_path / "g.png")
    vol = load(tmp_path / "g.png")
    assert vol.shape == (50, 30, 1) and vol.spatial_unit == "pixel" and vol.metadata.is_2d
    assert vol.array[40, 5, 0] == 200


def test_rgb_jpeg_and_tiff_keep_channels(tmp_path):
    rgb = np.zeros((20, 24, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 250, 128, 5
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95)
    tifffile.imwrite(str(tmp_path / "c.tif"), rgb)
    for name, tol in (("c.jpg", 3), ("c.tif", 0)):
        vol = load(tmp_path / name)
        assert vol.array.shape == (24, 20, 1, 3)
        assert vol.metadata.channel_names == ("R", "G", "B")
        np.testing.assert_allclose(vol.array[12, 10, 0], [250, 128, 5], atol=tol)


def test_png_with_alpha_drops_it_and_says_so(tmp_path):
    rgba = np.full((8, 9, 4), 100, np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    vol = load(tmp_path / "a.png")
    assert vol.array.shape == (9, 8, 1, 3)
    assert any("alpha" in n for n in vol.metadata.notes)


def test_mask_on_picture_is_written_0_255_same_size(tmp_path):
    Image.fromarray(np.zeros((16, 21), np.uint8)).save(tmp_path / "img.png")
    ref = load(tmp_path / "img.png")
    mask = np.zeros(ref.shape, bool)
    mask[3:7, 2:5, 0] = True  # columns 3-6, rows 2-4
    out = save_mask(mask, ref, tmp_path / "mask.png")
    pixels = np.array(Image.open(out))
    assert pixels.shape == (16, 21)
    assert set(np.unique(pixels)) == {0, 255}
    assert pixels[2:5, 3:7].all() and pixels.sum() == 12 * 255


@pytest.mark.parametrize("values, dtype", [((0, 1, 17), np.uint8), ((0, 300, 2035), np.uint16),
                                           ((0, 70000), np.int32), ((-1, 5), np.int32)])
def test_label_maps_get_the_smallest_integer_type(tmp_path, values, dtype):
    ref = Volume(np.zeros((4, 4, 4), np.float32), oblique_affine((1, 1, 1)))
    labels = np.zeros(ref.shape, np.int64)
    labels.flat[: len(values)] = values
    out = save_mask(labels, ref, tmp_path / "l.nii.gz")
    back = load(out)
    assert back.array.dtype == dtype
    np.testing.assert_array_equal(back.array, labels)
