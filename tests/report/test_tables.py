"""Measurement tables as JSON and CSV."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from voxelprompt.errors import InputFileError
from voxelprompt.report import write_json, write_table
from voxelprompt.report.tables import json_safe

RECORDS = [
    {"label": 1, "volume_ml": 1.5, "centroid_mm": [1.0, -2.0, 3.5], "intensity": {"mean": 10.0}},
    {"label": 2, "volume_ml": np.float32(0.25), "centroid_mm": [0.0, 0.0, 0.0], "extra": math.nan},
]


def test_json_safe_turns_numpy_and_nan_into_plain_json():
    out = json_safe({"a": np.int64(3), "b": [np.float64(0.5), math.inf], "c": (1, np.bool_(True))})
    assert out == {"a": 3, "b": [0.5, None], "c": [1, True]}
    assert type(out["a"]) is int
    json.dumps(out, allow_nan=False)  # strict JSON: raises if anything non-standard is left


def test_csv_flattens_nested_keys_and_lists(tmp_path):
    path = write_table(RECORDS, tmp_path / "t.csv")
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["label", "volume_ml", "centroid_mm", "intensity.mean", "extra"]
    assert rows[0]["centroid_mm"] == "1.0 -2.0 3.5"
    assert rows[0]["intensity.mean"] == "10.0" and rows[0]["extra"] == ""
    assert float(rows[1]["volume_ml"]) == pytest.approx(0.25)


def test_json_table_and_refusal_of_other_formats(tmp_path):
    path = write_table(RECORDS, tmp_path / "sub" / "t.json")  # folders are created
    data = json.loads(path.read_text())
    assert data["records"][1]["extra"] is None and data["records"][1]["volume_ml"] == 0.25
    with pytest.raises(InputFileError, match=r"cannot write a table as '\.xlsx'"):
        write_table(RECORDS, tmp_path / "t.xlsx")
    with pytest.raises(InputFileError, match="is a folder"):
        write_json({"a": 1}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]
