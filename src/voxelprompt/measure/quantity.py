"""The :class:`Quantity`: a value with its unit, name and provenance. Never a bare float."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from voxelprompt.errors import UnitError

# Unit spelling (ASCII) -> suffix used in flat JSON keys such as ``volume_ml``.
UNIT_SUFFIX = {
    "mL": "ml",
    "mm": "mm",
    "mm^2": "mm2",
    "mm^3": "mm3",
    "px": "px",
    "px^2": "px2",
    "px^3": "px3",
    "voxel": "voxels",
    "%": "percent",
    "1": "",
}


@dataclass(frozen=True)
class Quantity:
    """A measured value with its unit.

    Attributes:
        value: A number, or a tuple of numbers for vectors such as a centroid.
        unit: ASCII unit: ``mL``, ``mm``, ``mm^2``, ``px``, ``px^2``, ``voxel``, ``%``, ``1``
            (dimensionless), or an intensity unit (``HU``, ``a.u.``).
        name: What was measured (``volume``, ``surface_area``, ``max_diameter`` ...).
        provenance: Where it came from (label, method, step) for the audit trail.
    """

    value: float | tuple[float, ...]
    unit: str
    name: str = ""
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)

    def __float__(self) -> float:
        if isinstance(self.value, tuple):
            raise TypeError(f"{self.name or 'quantity'} is a vector, not a number")
        return float(self.value)

    @property
    def key(self) -> str:
        """Flat name with the unit, e.g. ``volume_ml`` or ``centroid_mm``."""
        suffix = UNIT_SUFFIX.get(self.unit, "")
        return f"{self.name}_{suffix}" if suffix else self.name

    def json_value(self) -> float | list[float] | None:
        """The value for JSON: floats, lists, and ``None`` for non-finite values."""
        if isinstance(self.value, tuple):
            return [_finite_or_none(v) for v in self.value]  # type: ignore[misc]
        return _finite_or_none(self.value)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "value", "unit"}`` plus provenance when present."""
        out: dict[str, Any] = {"name": self.name, "value": self.json_value(), "unit": self.unit}
        if self.provenance:
            out["provenance"] = self.provenance
        return out

    def __str__(self) -> str:
        if isinstance(self.value, tuple):
            body = "(" + ", ".join(f"{v:.4g}" for v in self.value) + ")"
        else:
            body = f"{self.value:.4g}"
        unit = "" if self.unit == "1" else f" {self.unit}"
        return f"{self.name} = {body}{unit}" if self.name else f"{body}{unit}"


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def require_same_unit(*quantities: Quantity) -> str:
    """Return the shared unit of ``quantities``.

    Raises:
        UnitError: If the units differ.
    """
    units = {q.unit for q in quantities}
    if len(units) != 1:
        names = ", ".join(f"{q.name or 'value'} [{q.unit}]" for q in quantities)
        raise UnitError(f"cannot combine quantities with different units: {names}",
                        "convert them to one unit first")
    return units.pop()
