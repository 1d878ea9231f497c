"""JSON and CSV writers for measurement tables; every write is atomic."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from voxelprompt.errors import InputFileError
from voxelprompt.files import full_suffix, write_text_atomic


def json_safe(value: Any) -> Any:
    """Replace non-finite floats with ``None`` and numpy scalars with Python numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return json_safe(value.item())
    return value


def write_json(payload: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``payload`` as indented strict JSON."""
    write_text_atomic(path, json.dumps(json_safe(payload), indent=2) + "\n")
    return Path(path)


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            flat[name] = " ".join(str(json_safe(v)) for v in value)
        else:
            flat[name] = json_safe(value)
    return flat


def write_table(records: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write records as ``.csv`` (nested keys joined by dots, lists space-separated) or ``.json``.

    Raises:
        InputFileError: For another extension.
    """
    suffix = full_suffix(path)
    if suffix == ".json":
        return write_json({"records": records}, path)
    if suffix != ".csv":
        raise InputFileError(f"cannot write a table as '{suffix}'", "use .csv or .json")
    rows = [_flatten(r) for r in records]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
    return Path(path)
