"""NRRD (.nrrd, .nhdr) through pynrrd, converting the declared space to RAS+."""

from __future__ import annotations

from pathlib import Path

import nrrd
import numpy as np

from voxelprompt.errors import InputFileError
from voxelprompt.files import atomic_path
from voxelprompt.volume.io.registry import register_reader, register_writer
from voxelprompt.volume.volume import MM, PIXEL, Volume, VolumeMetadata

# Sign flips that take each NRRD world space to RAS+.
SPACE_TO_RAS = {
    "right-anterior-superior": (1, 1, 1),
    "ras": (1, 1, 1),
    "left-anterior-superior": (-1, 1, 1),
    "las": (-1, 1, 1),
    "left-posterior-superior": (-1, -1, 1),
    "lps": (-1, -1, 1),
    "scanner-xyz": (1, 1, 1),
    "3d-right-handed": (1, 1, 1),
}


@register_reader(".nrrd", ".nhdr")
def read_nrrd(path: Path) -> Volume:
    """Read NRRD; a non-spatial (vector/colour) axis becomes the trailing channel axis."""
    data, header = nrrd.read(str(path), index_order="F")
    directions = header.get("space directions")
    notes: list[str] = []
    if directions is not None:
        rows = [None if d is None or np.all(np.isnan(np.asarray(d, float))) else d
                for d in directions]
        spatial = [n for n, d in enumerate(rows) if d is not None]
        channel_axes = [n for n, d in enumerate(rows) if d is None]
        space = str(header.get("space", "right-anterior-superior")).lower()
        if space not in SPACE_TO_RAS:
            raise InputFileError(
                f"NRRD space '{space}' of {path} is not supported",
                "convert the file to NIfTI with its geometry, e.g. with 3D Slicer or SimpleITK",
            )
        flip = np.diag(SPACE_TO_RAS[space] + (1,)).astype(float)
        linear = np.array([rows[n] for n in spatial], dtype=float).T  # columns = axis steps
        origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
        if linear.shape[0] == 2:  # 2D space: lift to 3D
            linear = np.vstack([linear, np.zeros((1, linear.shape[1]))])
            origin = np.append(origin, 0.0)
        unit = MM
    else:
        spatial = list(range(min(data.ndim, 3)))
        channel_axes = list(range(3, data.ndim))
        spacings = header.get("spacings")
        units = [str(u).lower() for u in header.get("space units", header.get("units", []))]
        if spacings is not None and units and all(u == "mm" for u in units[: len(spatial)]):
            linear, unit = np.diag(np.asarray(spacings, float)[: len(spatial)]), MM
        else:
            linear, unit = np.eye(len(spatial)), PIXEL
            notes.append("NRRD file declares no physical space; lengths are in pixels")
        origin = np.zeros(3)
        flip = np.eye(4)
        if linear.shape[0] == 2:
            linear = np.pad(linear, ((0, 1), (0, 0)))
    if len(spatial) == 2:
        linear = np.hstack([linear, np.array([[0.0], [0.0], [1.0]])])
    data = np.moveaxis(data, spatial + channel_axes, list(range(data.ndim)))
    if len(spatial) == 2:
        data = np.expand_dims(data, 2)
    if data.ndim > 4:
        data = data.reshape(data.shape[:3] + (-1,))
    affine = np.eye(4)
    affine[:3, :3] = linear[:3, :3]
    affine[:3, 3] = origin[:3]
    affine = flip @ affine
    meta = VolumeMetadata(source=str(path), format="nrrd", spatial_unit=unit, notes=tuple(notes),
                          is_2d=len(spatial) == 2)
    return Volume(data, affine, meta)


@register_writer(".nrrd")
def write_nrrd(volume: Volume, path: Path) -> None:
    """Write gzip-compressed NRRD in LPS space (the convention of 3D Slicer and ITK)."""
    data = np.asarray(volume.array)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    to_lps = np.diag([-1.0, -1.0, 1.0])
    directions = (to_lps @ volume.affine[:3, :3]).T.tolist()
    kinds = ["domain"] * 3
    if data.ndim == 4:
        directions = directions + [None]
        kinds.append("vector")
    header = {
        "space": "left-posterior-superior",
        "space directions": directions,
        "space origin": (to_lps @ volume.affine[:3, 3]).tolist(),
        "kinds": kinds,
        "encoding": "gzip",
    }
    with atomic_path(path) as tmp:
        nrrd.write(str(tmp), data, header, index_order="F")
