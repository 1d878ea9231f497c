"""NIfTI-1/2, Analyze and MGH/MGZ through nibabel.

NIfTI headers are kept in the volume's metadata so that a mask written "like" its reference has
the same qform, sform, codes, pixdim and units: a read-write round trip changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from voxelprompt.files import atomic_path
from voxelprompt.volume.io.registry import register_reader, register_writer
from voxelprompt.volume.volume import Volume, VolumeMetadata

NIFTI_HEADERS = (nib.Nifti1Header, nib.Nifti2Header)
MGH_DTYPES = (np.uint8, np.int16, np.int32, np.float32)


def _to_volume_array(data: np.ndarray) -> np.ndarray:
    """Bring nibabel data to (I, J, K) or (I, J, K, C)."""
    if data.ndim == 2:
        return data[:, :, np.newaxis]
    if data.ndim > 4:
        extra = data.shape[3:]
        data = data.reshape(data.shape[:3] + (int(np.prod(extra)),))
    return data


@register_reader(".nii", ".nii.gz", ".hdr", ".img", ".mgh", ".mgz")
def read_nibabel(path: Path) -> Volume:
    """Read a NIfTI, Analyze or MGH/MGZ file; scaling (scl_slope/inter) is applied."""
    img = nib.load(str(path))
    data = np.asanyarray(img.dataobj)  # forces the read, so truncation is detected here
    data = _to_volume_array(np.asarray(data))
    fmt = "mgh" if isinstance(img, nib.MGHImage) else "nifti"
    header = img.header.copy() if isinstance(img.header, NIFTI_HEADERS) else None
    meta = VolumeMetadata(source=str(path), format=fmt, header=header)
    return Volume(data, img.affine, meta)


def _nifti_header_for(volume: Volume, data: np.ndarray) -> nib.Nifti1Header:
    """A header carrying the reference geometry fields, updated for ``data``'s dtype and shape."""
    ref = volume.metadata.header
    if isinstance(ref, NIFTI_HEADERS):
        header = ref.copy()
        ref_shape = tuple(int(n) for n in ref.get_data_shape()[:3])
        same_geometry = ref_shape == volume.shape and np.allclose(
            ref.get_best_affine(), volume.affine, atol=1e-4, rtol=0
        )
    else:
        header, same_geometry = nib.Nifti1Header(), False
    header.set_data_shape(data.shape)
    header.set_data_dtype(data.dtype)
    header.set_slope_inter(np.nan, np.nan)  # masks and written values are stored unscaled
    if not same_geometry:
        qcode = int(header["qform_code"]) or 1
        scode = int(header["sform_code"]) or 1
        header.set_qform(volume.affine, code=qcode)
        header.set_sform(volume.affine, code=scode)
    if volume.is_physical:
        header.set_xyzt_units(xyz="mm")
    return header


@register_writer(".nii", ".nii.gz")
def write_nifti(volume: Volume, path: Path) -> None:
    """Write NIfTI-1, reusing the reference header's qform/sform when the grid is unchanged."""
    data = np.asarray(volume.array)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype == np.float16:
        data = data.astype(np.float32)
    header = _nifti_header_for(volume, data)
    klass = nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
    img = klass(data, None, header=header)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))


@register_writer(".mgh", ".mgz")
def write_mgh(volume: Volume, path: Path) -> None:
    """Write FreeSurfer MGH/MGZ (uint8, int16, int32 or float32)."""
    data = np.asarray(volume.array)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype.type not in MGH_DTYPES:
        if data.dtype.kind in "iu" and data.size and data.min() >= -(2**31) and data.max() < 2**31:
            data = data.astype(np.int32)
        else:
            data = data.astype(np.float32)
    img = nib.MGHImage(data, volume.affine)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
