"""DICOM: a single file, an enhanced multi-frame file, or a folder holding one series.

Geometry follows the DICOM standard (PS3.3 C.7.6.2.1.1): ImagePositionPatient is the world
position (LPS, mm) of the first transmitted pixel's centre; ImageOrientationPatient gives the
direction of increasing column index (along a row) then of increasing row index; PixelSpacing is
(row spacing, column spacing). World coordinates are converted to RAS+ by negating x and y.
Physical spacing is only reported when the file states it (PixelSpacing, ImagerPixelSpacing, the
enhanced-MR pixel measures, or ultrasound region calibration); otherwise lengths stay in pixels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_rescale

from voxelprompt.errors import InputFileError
from voxelprompt.volume.io.registry import register_reader
from voxelprompt.volume.volume import MM, PIXEL, Volume, VolumeMetadata

log = logging.getLogger(__name__)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
US_UNIT_CM = 3  # PhysicalUnitsX/YDirection code for centimetres


@dataclass
class _PlaneGeometry:
    row_cos: np.ndarray | None  # direction of increasing column index (i)
    col_cos: np.ndarray | None  # direction of increasing row index (j)
    spacing_ij: tuple[float, float] | None  # mm along i, along j
    positions: list[np.ndarray] | None  # IPP per frame/slice (LPS)
    slice_thickness: float | None
    note: str | None = None


def _floats(value: object) -> list[float] | None:
    if value is None:
        return None
    try:
        return [float(v) for v in value]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None


def _first(seq_owner: object, name: str) -> object | None:
    seq = getattr(seq_owner, name, None)
    return seq[0] if seq else None


def _in_plane_spacing(ds: pydicom.Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """(spacing along i, along j) in mm, and where it came from."""
    ps = _floats(ds.get("PixelSpacing"))
    if ps and len(ps) == 2 and min(ps) > 0:
        return (ps[1], ps[0]), "PixelSpacing"
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    measures = _first(shared, "PixelMeasuresSequence") if shared is not None else None
    ps = _floats(measures.get("PixelSpacing")) if measures is not None else None
    if ps and len(ps) == 2 and min(ps) > 0:
        return (ps[1], ps[0]), "PixelMeasuresSequence"
    ips = _floats(ds.get("ImagerPixelSpacing"))
    if ips and len(ips) == 2 and min(ips) > 0:
        return (ips[1], ips[0]), "ImagerPixelSpacing (detector plane, not corrected for magnification)"
    for region in ds.get("SequenceOfUltrasoundRegions", []) or []:
        ux, uy = region.get("PhysicalUnitsXDirection"), region.get("PhysicalUnitsYDirection")
        dx, dy = region.get("PhysicalDeltaX"), region.get("PhysicalDeltaY")
        if ux == US_UNIT_CM and uy == US_UNIT_CM and dx and dy:
            return (abs(float(dx)) * 10.0, abs(float(dy)) * 10.0), "SequenceOfUltrasoundRegions"
    return None, None


def _plane_geometry(ds: pydicom.Dataset) -> _PlaneGeometry:
    spacing, source = _in_plane_spacing(ds)
    iop = _floats(ds.get("ImageOrientationPatient"))
    positions = None
    gap = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    thickness = float(gap) if gap else None
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    if iop is None and shared is not None:
        orient = _first(shared, "PlaneOrientationSequence")
        iop = _floats(orient.get("ImageOrientationPatient")) if orient is not None else None
        measures = _first(shared, "PixelMeasuresSequence")
        if measures is not None and measures.get("SliceThickness"):
            thickness = float(measures.SliceThickness)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        pos = [_first(f, "PlanePositionSequence") for f in per_frame]
        if all(p is not None and p.get("ImagePositionPatient") for p in pos):
            positions = [np.array(_floats(p.ImagePositionPatient)) for p in pos]  # type: ignore
        if iop is None:
            orient = _first(per_frame[0], "PlaneOrientationSequence")
            iop = _floats(orient.get("ImageOrientationPatient")) if orient is not None else None
    elif ds.get("ImagePositionPatient") is not None:
        positions = [np.array(_floats(ds.ImagePositionPatient))]
    row_cos = col_cos = None
    if iop and len(iop) == 6:
        row_cos, col_cos = np.array(iop[:3]), np.array(iop[3:])
        if abs(np.linalg.norm(row_cos) - 1) > 1e-2 or abs(np.linalg.norm(col_cos) - 1) > 1e-2:
            row_cos = col_cos = None
    return _PlaneGeometry(row_cos, col_cos, spacing, positions, thickness, source)


def _affine(geom: _PlaneGeometry, n_slices: int) -> tuple[np.ndarray, str, list[str]]:
    """Voxel-to-world RAS affine, the spatial unit and notes on how it was derived."""
    notes: list[str] = []
    if geom.spacing_ij is None:
        notes.append("no pixel spacing in the file: lengths are reported in pixels")
        return np.eye(4), PIXEL, notes
    if geom.note:
        notes.append(f"pixel spacing from {geom.note}")
    si, sj = geom.spacing_ij
    if geom.row_cos is None:  # calibrated but not positioned (ultrasound, photo, radiograph)
        thick = geom.slice_thickness or 1.0
        return np.diag([si, sj, thick, 1.0]), MM, notes
    normal = np.cross(geom.row_cos, geom.col_cos)
    lps = np.eye(4)
    lps[:3, 0] = geom.row_cos * si
    lps[:3, 1] = geom.col_cos * sj
    positions = geom.positions or [np.zeros(3)]
    if n_slices > 1 and len(positions) == n_slices:
        step = (positions[-1] - positions[0]) / (n_slices - 1)
        gaps = np.diff([p @ normal for p in positions])
        if gaps.size and np.ptp(gaps) > 0.01 * max(abs(gaps.mean()), 1e-6):
            notes.append("slice spacing is not uniform; the mean spacing is used")
    else:
        step = normal * (geom.slice_thickness or 1.0)
    lps[:3, 2] = step
    lps[:3, 3] = positions[0]
    return LPS_TO_RAS @ lps, MM, notes


def _pixels(ds: pydicom.Dataset) -> np.ndarray:
    """Pixel data with the modality rescale applied, as (frames, rows, cols[, samples])."""
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if frames == 1:
        arr = arr[np.newaxis]
    if samples == 1 and ("RescaleSlope" in ds or "RescaleIntercept" in ds):
        arr = apply_rescale(arr, ds)
    return arr


def _to_ijk(frames: np.ndarray) -> np.ndarray:
    """(frames, rows, cols[, c]) -> (cols, rows, frames[, c]), i.e. indexed [i, j, k]."""
    return np.swapaxes(np.moveaxis(frames, 0, 2), 0, 1)


def _metadata(ds: pydicom.Dataset, source: Path, unit: str, notes: list[str], is_2d: bool,
              rescaled: bool) -> VolumeMetadata:
    modality = str(ds.get("Modality", "")) or None
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    channels = tuple("RGB") if samples == 3 else None
    intensity = "HU" if modality == "CT" and rescaled else "a.u."
    return VolumeMetadata(source=str(source), format="dicom", modality=modality,
                          spatial_unit=unit, intensity_unit=intensity, is_2d=is_2d,
                          channel_names=channels, notes=tuple(notes))


def _read_file(path: Path) -> Volume:
    ds = pydicom.dcmread(str(path), force=True)
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise InputFileError(f"DICOM file {path} holds no image (no pixel data)",
                             "point at an image file or a series folder, not a report or DICOMDIR")
    frames = _pixels(ds)
    geom = _plane_geometry(ds)
    n = frames.shape[0]
    affine, unit, notes = _affine(geom, n)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 3 and ds.get("PhotometricInterpretation", "").startswith("YBR"):
        from pydicom.pixels import convert_color_space

        frames = convert_color_space(frames, ds.PhotometricInterpretation, "RGB")
    is_2d = n == 1 and (geom.row_cos is None or unit == PIXEL)
    rescaled = "RescaleSlope" in ds or "RescaleIntercept" in ds
    return Volume(_to_ijk(frames), affine, _metadata(ds, path, unit, notes, is_2d, rescaled))


@register_reader(".dcm", ".dicom", ".ima")
def read_dicom_file(path: Path) -> Volume:
    """Read one DICOM file: a slice, a picture or a multi-frame image."""
    return _read_file(path)


@register_reader("<dicom-folder>")
def read_dicom_series(folder: Path) -> Volume:
    """Read the single DICOM series in ``folder``; slices are sorted along the slice normal."""
    headers = []
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            ds = pydicom.dcmread(str(f), stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError, EOFError):  # not DICOM: folders hold other files
            log.debug("skipping non-DICOM file %s", f)
            continue
        if "SeriesInstanceUID" in ds and ds.get("ImagePositionPatient") is not None:
            headers.append((f, ds))
    if not headers:
        raise InputFileError(f"no DICOM image slices found in folder {folder}",
                             "point at a folder holding one DICOM series, or at a single file")
    series = {str(ds.SeriesInstanceUID) for _, ds in headers}
    if len(series) > 1:
        raise InputFileError(f"folder {folder} holds {len(series)} DICOM series",
                             "put each series in its own folder, or point at one file")
    if len(headers) == 1:
        return _read_file(headers[0][0])
    first = headers[0][1]
    geom = _plane_geometry(first)
    if geom.row_cos is None:
        raise InputFileError(f"DICOM series in {folder} has no ImageOrientationPatient",
                             "the slices cannot be stacked; read single files instead")
    normal = np.cross(geom.row_cos, geom.col_cos)
    headers.sort(key=lambda item: float(np.array(_floats(item[1].ImagePositionPatient)) @ normal))
    positions = [np.array(_floats(ds.ImagePositionPatient)) for _, ds in headers]
    along = np.array([p @ normal for p in positions])
    if np.any(np.diff(along) < 1e-4):
        raise InputFileError(
            f"DICOM series in {folder} has several slices at the same position",
            "it may mix acquisitions or echoes; split them into separate folders",
        )
    slices = [_pixels(pydicom.dcmread(str(f)))[0] for f, _ in headers]
    if len({s.shape for s in slices}) > 1:
        raise InputFileError(f"DICOM slices in {folder} have different sizes",
                             "the folder mixes images; keep one series per folder")
    geom.positions = positions
    affine, unit, notes = _affine(geom, len(slices))
    rescaled = "RescaleSlope" in first or "RescaleIntercept" in first
    meta = _metadata(first, folder, unit, notes, False, rescaled)
    return Volume(_to_ijk(np.stack(slices)), affine, meta)
