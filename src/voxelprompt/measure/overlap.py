"""Agreement between a predicted and a reference mask on the same grid (evaluation metrics).

Surface distances are measured between boundary voxel centres in world mm, so they are correct on
anisotropic and oblique grids. Conventions for empty masks: both empty gives Dice/IoU/NSD 1 and
distances 0; exactly one empty gives Dice/IoU/NSD 0 and infinite distances.
"""

from __future__ import annotations

import numpy as np

from voxelprompt.measure.distance import directed_surface_distances
from voxelprompt.measure.quantity import Quantity
from voxelprompt.measure.shape import length_unit
from voxelprompt.volume import Volume


def dice(pred: np.ndarray, ref: np.ndarray) -> Quantity:
    """Dice coefficient 2|A∩B| / (|A|+|B|)."""
    total = int(pred.sum()) + int(ref.sum())
    value = 1.0 if total == 0 else 2.0 * int(np.count_nonzero(pred & ref)) / total
    return Quantity(value, "1", "dice")


def iou(pred: np.ndarray, ref: np.ndarray) -> Quantity:
    """Intersection over union |A∩B| / |A∪B| (Jaccard index)."""
    union = int(np.count_nonzero(pred | ref))
    value = 1.0 if union == 0 else int(np.count_nonzero(pred & ref)) / union
    return Quantity(value, "1", "iou")


Distances = tuple[np.ndarray, np.ndarray] | None  # (pred->ref, ref->pred); None if both empty


def _both_directions(pred: np.ndarray, ref: np.ndarray, grid: Volume) -> Distances:
    if not pred.any() and not ref.any():
        return None
    return directed_surface_distances(pred, ref, grid), directed_surface_distances(ref, pred, grid)


def _hd95(d: Distances) -> float:
    if d is None:
        return 0.0
    if not len(d[0]) or not len(d[1]):
        return float("inf")
    return float(max(np.percentile(d[0], 95), np.percentile(d[1], 95)))


def _msd(d: Distances) -> float:
    if d is None:
        return 0.0
    if not len(d[0]) or not len(d[1]):
        return float("inf")
    return float(np.concatenate(d).mean())


def _nsd(d: Distances, tolerance_mm: float) -> float:
    if d is None:
        return 1.0
    if not len(d[0]) or not len(d[1]):
        return 0.0
    within = np.sum(d[0] <= tolerance_mm) + np.sum(d[1] <= tolerance_mm)
    return float(within / (len(d[0]) + len(d[1])))


def hausdorff95(pred: np.ndarray, ref: np.ndarray, grid: Volume) -> Quantity:
    """95th-percentile Hausdorff distance: the larger of the two directed 95th percentiles."""
    return Quantity(_hd95(_both_directions(pred, ref, grid)), length_unit(grid), "hd95")


def mean_surface_distance(pred: np.ndarray, ref: np.ndarray, grid: Volume) -> Quantity:
    """Average symmetric surface distance: mean over both surfaces' point-to-surface distances."""
    return Quantity(_msd(_both_directions(pred, ref, grid)), length_unit(grid),
                    "mean_surface_distance")


def normalized_surface_dice(pred: np.ndarray, ref: np.ndarray, grid: Volume, *,
                            tolerance_mm: float = 1.0) -> Quantity:
    """Fraction of both surfaces lying within ``tolerance_mm`` of the other surface (NSD)."""
    value = _nsd(_both_directions(pred, ref, grid), tolerance_mm)
    return Quantity(value, "1", "nsd", {"tolerance": tolerance_mm})


def overlap_metrics(pred: np.ndarray, ref: np.ndarray, grid: Volume, *,
                    tolerance_mm: float = 1.0) -> dict[str, Quantity]:
    """Dice, IoU, HD95, mean surface distance and NSD at ``tolerance_mm``, keyed by name."""
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    d = _both_directions(pred, ref, grid)
    unit = length_unit(grid)
    return {
        "dice": dice(pred, ref),
        "iou": iou(pred, ref),
        "hd95": Quantity(_hd95(d), unit, "hd95"),
        "mean_surface_distance": Quantity(_msd(d), unit, "mean_surface_distance"),
        "nsd": Quantity(_nsd(d, tolerance_mm), "1", "nsd", {"tolerance": tolerance_mm}),
    }
