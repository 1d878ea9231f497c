"""Comparisons between quantities: ratio, percent change, asymmetry index."""

from __future__ import annotations

from voxelprompt.errors import VoxelPromptError
from voxelprompt.measure.quantity import Quantity, require_same_unit


def _nonzero(q: Quantity, what: str) -> float:
    value = float(q)
    if value == 0:
        raise VoxelPromptError(f"{what} is zero ({q})", "the comparison is undefined for an empty region")
    return value


def ratio(numerator: Quantity, denominator: Quantity) -> Quantity:
    """``numerator / denominator`` as a dimensionless fraction (units must match)."""
    require_same_unit(numerator, denominator)
    value = float(numerator) / _nonzero(denominator, "the denominator")
    return Quantity(value, "1", "ratio", {"numerator": numerator.name, "denominator": denominator.name})


def percent_change(before: Quantity, after: Quantity) -> Quantity:
    """``(after - before) / before x 100`` in % (negative means shrinkage)."""
    require_same_unit(before, after)
    value = (float(after) - float(before)) / _nonzero(before, "the earlier value") * 100.0
    return Quantity(value, "%", "percent_change")


def asymmetry_index(left: Quantity, right: Quantity) -> Quantity:
    """``(L - R) / ((L + R) / 2)`` as a signed fraction (positive means left larger)."""
    require_same_unit(left, right)
    mean = (float(left) + float(right)) / 2.0
    if mean == 0:
        raise VoxelPromptError("left and right are both zero", "asymmetry is undefined for empty regions")
    return Quantity((float(left) - float(right)) / mean, "1", "asymmetry_index")
