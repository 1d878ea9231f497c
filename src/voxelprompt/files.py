"""File-system helpers shared by every layer: atomic writes and compound extensions."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from voxelprompt.errors import InputFileError

COMPOUND_SUFFIXES = (".nii.gz", ".tar.gz", ".json.gz")


def full_suffix(path: str | os.PathLike[str]) -> str:
    """The file's extension in lower case, keeping compound ones such as ``.nii.gz``."""
    name = Path(path).name.lower()
    for suffix in COMPOUND_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(name).suffix


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the extension so that format-sniffing writers behave the same.
    If the body raises, the temporary file is removed and ``path`` is left untouched, so a failed
    write never leaves a half-written output.
    """
    target = Path(path)
    if target.is_dir():
        raise InputFileError(f"output {target} is a folder", "give a file name, e.g. out.nii.gz")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"cannot create the output folder {target.parent}: {exc.strerror}",
                             "choose a writable location") from exc
    suffix = full_suffix(target)
    stem = target.name[: len(target.name) - len(suffix)] if suffix else target.name
    tmp = target.with_name(f".{stem}.partial-{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    except PermissionError as exc:
        raise InputFileError(f"cannot write {target}: permission denied",
                             "choose a writable location") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
