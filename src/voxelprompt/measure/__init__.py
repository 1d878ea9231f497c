"""Measurements with units: size, shape, position, intensity, components, comparisons, overlap."""

from voxelprompt.measure.compare import asymmetry_index, percent_change, ratio
from voxelprompt.measure.components import Components, connected_components, largest_component
from voxelprompt.measure.distance import centroid_distance, min_surface_distance
from voxelprompt.measure.intensity import intensity_stats
from voxelprompt.measure.overlap import (
    dice,
    hausdorff95,
    iou,
    mean_surface_distance,
    normalized_surface_dice,
    overlap_metrics,
)
from voxelprompt.measure.quantity import Quantity
from voxelprompt.measure.shape import (
    bounding_box,
    centroid,
    max_diameter,
    recist_diameters,
    region_volume,
    surface_area,
)
from voxelprompt.measure.table import RegionMeasurements, measure_labels, measure_region

__all__ = [
    "Components", "Quantity", "RegionMeasurements", "asymmetry_index", "bounding_box", "centroid",
    "centroid_distance", "connected_components", "dice", "hausdorff95", "intensity_stats", "iou",
    "largest_component", "max_diameter", "mean_surface_distance", "measure_labels",
    "measure_region", "min_surface_distance", "normalized_surface_dice", "overlap_metrics",
    "percent_change", "ratio", "recist_diameters", "region_volume", "surface_area",
]
