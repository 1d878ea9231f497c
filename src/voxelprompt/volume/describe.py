"""A JSON-ready description of a volume: what ``voxelprompt info`` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

from voxelprompt.volume.volume import Volume


def describe(volume: Volume) -> dict[str, Any]:
    """Shape, spacing, orientation, affine, data type and value range of ``volume``.

    Returns:
        A dict with keys ``file``, ``format``, ``modality``, ``shape``, ``channels``, ``spacing``,
        ``spacing_unit``, ``orientation``, ``affine``, ``dtype``, ``min``, ``max``,
        ``non_finite_voxels``, ``is_2d``, ``intensity_unit``, ``notes`` (and ``qform_code`` /
        ``sform_code`` for NIfTI).
    """
    arr = np.asarray(volume.array)
    finite = np.isfinite(arr) if arr.dtype.kind in "fc" else None
    bad = int(arr.size - np.count_nonzero(finite)) if finite is not None else 0
    values = arr[finite] if finite is not None and bad else arr
    meta = volume.metadata
    unit_known = volume.is_physical
    out: dict[str, Any] = {
        "file": meta.source,
        "format": meta.format,
        "modality": meta.modality,
        "shape": list(volume.shape),
        "channels": volume.n_channels,
        "channel_names": list(meta.channel_names) if meta.channel_names else None,
        "spacing": [round(s, 6) for s in volume.spacing] if unit_known else None,
        "spacing_unit": "mm" if unit_known else "unknown (lengths in pixels)",
        "orientation": volume.orientation if unit_known else None,
        "affine": np.round(volume.affine, 6).tolist(),
        "dtype": str(arr.dtype),
        "min": float(values.min()) if values.size else None,
        "max": float(values.max()) if values.size else None,
        "non_finite_voxels": bad,
        "is_2d": volume.is_2d,
        "intensity_unit": meta.intensity_unit,
        "notes": list(meta.notes),
    }
    header = meta.header
    if header is not None and "qform_code" in header:
        out["qform_code"] = int(header["qform_code"])
        out["sform_code"] = int(header["sform_code"])
    return out
