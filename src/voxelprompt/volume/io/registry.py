"""Reader/writer registry keyed by file extension, with clear errors for bad files."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from voxelprompt.errors import InputFileError, VoxelPromptError
from voxelprompt.files import full_suffix
from voxelprompt.volume.volume import Volume

log = logging.getLogger(__name__)

Reader = Callable[[Path], Volume]
Writer = Callable[[Volume, Path], None]

READERS: dict[str, Reader] = {}
WRITERS: dict[str, Writer] = {}


def register_reader(*suffixes: str) -> Callable[[Reader], Reader]:
    """Decorator registering a reader for file extensions (lower case, with dot)."""

    def deco(func: Reader) -> Reader:
        for suffix in suffixes:
            READERS[suffix] = func
        return func

    return deco


def register_writer(*suffixes: str) -> Callable[[Writer], Writer]:
    """Decorator registering a writer for file extensions (lower case, with dot)."""

    def deco(func: Writer) -> Writer:
        for suffix in suffixes:
            WRITERS[suffix] = func
        return func

    return deco


def _looks_like_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def supported_read_suffixes() -> list[str]:
    """Extensions that :func:`load` understands (a DICOM folder is accepted too)."""
    return sorted(s for s in READERS if s)


def load(path: str | os.PathLike[str]) -> Volume:
    """Read an image, mask or label map.

    Args:
        path: A NIfTI (.nii, .nii.gz), MGH/MGZ, Analyze, NRRD, DICOM file, a folder holding one
            DICOM series, or a PNG/JPEG/TIFF/BMP picture.

    Returns:
        The :class:`Volume`, with its RAS+ affine and metadata.

    Raises:
        InputFileError: If the file is missing, unreadable, truncated, corrupt or unsupported.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"file not found: {p}", "check the path and spelling")
    if p.is_dir():
        reader = READERS["<dicom-folder>"]
    else:
        suffix = full_suffix(p)
        reader = READERS[".dcm"] if _looks_like_dicom(p) else READERS.get(suffix)
        if reader is None:
            raise InputFileError(
                f"unsupported file type '{suffix or p.name}' for {p}",
                "use NIfTI, MGH/MGZ, NRRD, DICOM, PNG, JPEG or TIFF",
            )
        if p.stat().st_size == 0:
            raise InputFileError(f"file is empty: {p}", "re-export or copy the file again")
    try:
        return reader(p)
    except VoxelPromptError:
        raise
    except MemoryError as exc:
        raise InputFileError(f"not enough memory to read {p}", "free memory or crop the image") from exc
    except PermissionError as exc:
        raise InputFileError(f"no permission to read {p}", "check the file's permissions") from exc
    except Exception as exc:  # every library signals corrupt files differently
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.debug("reader failed", exc_info=True)
        raise InputFileError(
            f"cannot read {p}: the file is truncated, corrupt or not a valid "
            f"{full_suffix(p) or 'image'} file ({detail[:160]})",
            "re-export or copy the file again",
        ) from exc


def save(volume: Volume, path: str | os.PathLike[str]) -> Path:
    """Write a volume, choosing the format from the extension; the write is atomic.

    Args:
        volume: What to write. Its affine becomes the file's geometry; a NIfTI header kept from
            the reference file is reused so that qform/sform codes survive.
        path: Output path (.nii, .nii.gz, .mgh, .mgz, .nrrd, .png, .tif, .tiff).

    Returns:
        The path written.

    Raises:
        InputFileError: If the extension is not writable or the folder does not exist.
    """
    p = Path(path)
    suffix = full_suffix(p)
    writer = WRITERS.get(suffix)
    if writer is None:
        raise InputFileError(
            f"cannot write '{suffix or p.name}' files ({p})",
            f"use one of {', '.join(sorted(WRITERS))}",
        )
    if not p.parent.exists():
        raise InputFileError(f"output folder does not exist: {p.parent}", "create it first")
    writer(volume, p)
    return p
