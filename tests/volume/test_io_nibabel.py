"""NIfTI/MGZ reading and writing: round trips checked with nibabel and SimpleITK."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from tests.conftest import oblique_affine
from voxelprompt.errors import DimensionError, InputFileError
from voxelprompt.volume import Volume, load, save, save_mask


def _sitk_affine_ras(img: sitk.Image) -> np.ndarray:
    direction = np.array(img.GetDirection()).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * np.array(img.GetSpacing())
    lps[:3, 3] = img.GetOrigin()
    return np.diag([-1, -1, 1, 1]) @ lps


def test_real_label_map_round_trip_changes_nothing(dk_labels_path, tmp_path):
    original = nib.load(dk_labels_path)
    vol = load(dk_labels_path)
    assert vol.orientation == "LIA"
    out = save(vol, tmp_path / "copy.nii.gz")
    copy = nib.load(out)
    assert np.array_equal(np.asanyarray(copy.dataobj), np.asanyarray(original.dataobj))
    assert copy.get_data_dtype() == original.get_data_dtype()
    np.testing.assert_array_equal(copy.affine, original.affine)
    for field in ("qform_code", "sform_code", "pixdim", "srow_x", "srow_y", "srow_z",
                  "quatern_b", "quatern_c", "quatern_d", "qoffset_x"):
        np.testing.assert_array_equal(copy.header[field], original.header[field])
    # SimpleITK reads the same geometry from both files
    a, b = sitk.ReadImage(str(dk_labels_path)), sitk.ReadImage(str(out))
    assert a.GetOrigin() == b.GetOrigin() and a.GetDirection() == b.GetDirection()
    assert a.GetSpacing() == b.GetSpacing()


def test_mask_written_like_a_scaled_oblique_reference(tmp_path):
    data = np.random.default_rng(0).random((20, 18, 9)).astype(np.float32) * 1000
    affine = oblique_affine((0.9, 1.3, 2.5))
    img = nib.Nifti1Image(data, affine)
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=4)
    img.header.set_data_dtype(np.int16)
    img.header.set_slope_inter(0.5, 10)  # reference stored scaled
    ref_path = tmp_path / "ref.nii"
    nib.save(img, ref_path)
    ref = load(ref_path)
    mask = ref.array > 500
    out = save_mask(mask, ref, tmp_path / "mask.nii.gz")
    written = nib.load(out)
    assert written.shape == ref.shape
    assert written.get_data_dtype() == np.uint8
    values = np.asanyarray(written.dataobj)
    assert set(np.unique(values)) == {0, 1}  # no scaling applied to the mask
    np.testing.assert_array_equal(values.astype(bool), mask)
    np.testing.assert_allclose(written.affine, nib.load(ref_path).affine, atol=1e-6)
    assert int(written.header["qform_code"]) == 1 and int(written.header["sform_code"]) == 4
    np.testing.assert_allclose(_sitk_affine_ras(sitk.ReadImage(str(out))),
                               _sitk_affine_ras(sitk.ReadImage(str(ref_path))), atol=1e-4)


def test_volume_from_array_gets_consistent_header(tmp_path):
    affine = oblique_affine((0.7, 0.7, 3.0), axis_signs=(1, -1, 1))
    vol = Volume(np.arange(60, dtype=np.int16).reshape(5, 4, 3), affine)
    out = save(vol, tmp_path / "v.nii.gz")
    back = load(out)
    np.testing.assert_allclose(back.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(_sitk_affine_ras(sitk.ReadImage(str(out))), affine, atol=1e-4)


def test_mgz_round_trip(tmp_path):
    affine = oblique_affine((1.0, 1.0, 1.2))
    vol = Volume(np.arange(24, dtype=np.int32).reshape(2, 3, 4), affine)
    back = load(save(vol, tmp_path / "v.mgz"))
    np.testing.assert_allclose(back.affine, affine, atol=1e-4)
    np.testing.assert_array_equal(back.array, vol.array)


def test_4d_nifti_keeps_frames_as_channels():
    vol = load(nib.__path__[0] + "/tests/data/example4d.nii.gz")
    assert vol.array.ndim == 4 and vol.n_channels == vol.array.shape[3] > 1


@pytest.mark.parametrize("make_bad", [
    lambda p, src: p.write_bytes(src.read_bytes()[:4000]),  # truncated gzip
    lambda p, src: p.write_bytes(b"\x1f\x8b" + b"garbage" * 50),  # corrupt gzip
    lambda p, src: p.write_bytes(b""),  # empty
])
def test_truncated_or_corrupt_files_give_input_errors(tmp_path, mni_t1_path, make_bad):
    bad = tmp_path / "bad.nii.gz"
    make_bad(bad, mni_t1_path)
    with pytest.raises(InputFileError) as info:
        load(bad)
    assert str(bad) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(InputFileError, match="file not found"):
        load(tmp_path / "nope.nii.gz")
    (tmp_path / "notes.xyz").write_text("x")
    with pytest.raises(InputFileError, match="unsupported file type"):
        load(tmp_path / "notes.xyz")
    with pytest.raises(InputFileError, match="cannot write"):
        save(Volume(np.zeros((2, 2, 2)), np.eye(4)), tmp_path / "out.xyz")


def test_failed_write_leaves_no_file(tmp_path):
    vol = Volume(np.full((4, 4, 1), 70000, dtype=np.int64), np.eye(4))
    with pytest.raises(DimensionError, match="do not fit a PNG"):
        save(vol, tmp_path / "x.png")  # does not fit a PNG
    assert list(tmp_path.iterdir()) == []
