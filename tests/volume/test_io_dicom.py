"""DICOM reading: spacing only when the file states it; series geometry checked with SimpleITK."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_rescale
from pydicom.uid import generate_uid

from voxelprompt.errors import InputFileError
from voxelprompt.volume import load


def test_mr_slice_reports_its_pixel_spacing_and_oblique_geometry():
    vol = load(get_testdata_file("MR2_UNCR.dcm"))
    assert vol.is_physical and vol.metadata.modality == "MR"
    assert vol.spacing[:2] == pytest.approx((0.195313, 0.195313))
    img = sitk.ReadImage(get_testdata_file("MR2_UNCR.dcm"))
    # SimpleITK (GDCM) gives the same first-pixel position and in-plane directions (LPS)
    origin_ras = np.array(img.GetOrigin()) * [-1, -1, 1]
    np.testing.assert_allclose(vol.affine[:3, 3], origin_ras, atol=1e-4)
    d = np.array(img.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(vol.affine[:3, 0] / vol.spacing[0], d[:, 0] * [-1, -1, 1], atol=1e-5)
    np.testing.assert_allclose(vol.affine[:3, 1] / vol.spacing[1], d[:, 1] * [-1, -1, 1], atol=1e-5)
    # pixel (column 10, row 20) holds the DICOM value at pixel_array[20, 10]
    ds = pydicom.dcmread(get_testdata_file("MR2_UNCR.dcm"))
    stored = apply_rescale(ds.pixel_array, ds)
    assert vol.array[10, 20, 0] == pytest.approx(stored[20, 10])
    assert vol.array[100, 30, 0] == pytest.approx(stored[30, 100])


def test_ultrasound_rgb_has_unknown_spacing():
    vol = load(get_testdata_file("US1_UNCR.dcm"))
    assert not vol.is_physical and vol.spatial_unit == "pixel"
    assert vol.array.shape == (640, 480, 1, 3)
    assert vol.metadata.channel_names == ("R", "G", "B")
    assert vol.metadata.modality == "US"


def test_ct_values_are_hounsfield_units():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    vol = load(get_testdata_file("CT_small.dcm"))
    assert vol.metadata.intensity_unit == "HU"
    expected = ds.pixel_array[5, 7] * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert vol.array[7, 5, 0] == pytest.approx(expected)


def test_multiframe_without_geometry_is_a_pixel_stack():
    vol = load(get_testdata_file("emri_small.dcm"))
    assert vol.shape == (64, 64, 10) and vol.spatial_unit == "pixel"


def _write_series(folder, n=6, gap=2.5, shuffle=True):
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    series_uid = generate_uid()
    order = list(range(n))
    if shuffle:
        order = order[::2] + order[1::2]
    for k in order:
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))  # a fresh copy: Dataset.copy() is shallow
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        ipp = [float(v) for v in src.ImagePositionPatient]
        ds.ImagePositionPatient = [ipp[0], ipp[1], ipp[2] + gap * k]
        arr = src.pixel_array.copy()
        arr[0, 0] = k  # mark each slice
        ds.PixelData = arr.tobytes()
        ds.save_as(folder / f"slice_{k:03d}.dcm")
    return src


def test_series_folder_is_sorted_and_matches_simpleitk(tmp_path):
    src = _write_series(tmp_path)
    (tmp_path / "readme.txt").write_text("not dicom")
    vol = load(tmp_path)
    assert vol.shape == (128, 128, 6)
    # slices come back in position order whatever the file order: slice k holds marker k
    slope, intercept = float(src.RescaleSlope), float(src.RescaleIntercept)
    assert [vol.array[0, 0, k] for k in range(6)] == pytest.approx([k * slope + intercept for k in range(6)])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path)))
    img = reader.Execute()
    assert vol.spacing == pytest.approx(img.GetSpacing(), abs=1e-4)
    np.testing.assert_allclose(vol.affine[:3, 3], np.array(img.GetOrigin()) * [-1, -1, 1], atol=1e-4)
    np.testing.assert_allclose(vol.array, sitk.GetArrayFromImage(img).transpose(2, 1, 0), atol=1e-3)


def test_series_with_duplicate_positions_is_refused(tmp_path):
    _write_series(tmp_path, n=3, gap=0.0, shuffle=False)
    with pytest.raises(InputFileError, match="same position"):
        load(tmp_path)


def test_folder_without_dicom(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(InputFileError, match="no DICOM"):
        load(tmp_path)
