"""Distances between regions, in world millimetres (any affine)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from voxelprompt.measure.quantity import Quantity
from voxelprompt.measure.shape import boundary_voxels, centroid, length_unit
from voxelprompt.volume import Volume


def surface_points(mask: np.ndarray, grid: Volume) -> np.ndarray:
    """World coordinates (N, 3) of the centres of the region's boundary voxels."""
    return grid.world_from_voxel(boundary_voxels(mask))


def directed_surface_distances(a: np.ndarray, b: np.ndarray, grid: Volume) -> np.ndarray:
    """For every boundary voxel of ``a``, the distance to the nearest boundary voxel of ``b``."""
    pa, pb = surface_points(a, grid), surface_points(b, grid)
    if len(pa) == 0 or len(pb) == 0:
        return np.full(len(pa), np.inf)
    return cKDTree(pb).query(pa, k=1)[0]


def min_surface_distance(a: np.ndarray, b: np.ndarray, grid: Volume) -> Quantity:
    """Smallest gap between two regions: 0 when they overlap or touch voxel centres, otherwise
    the smallest distance between their boundary voxel centres."""
    if np.any(a & b):
        value = 0.0
    else:
        value = float(directed_surface_distances(a, b, grid).min())
    return Quantity(value, length_unit(grid), "min_surface_distance")


def centroid_distance(a: np.ndarray, b: np.ndarray, grid: Volume) -> Quantity:
    """Distance between the two regions' centroids."""
    ca = np.array(centroid(a, grid).value)
    cb = np.array(centroid(b, grid).value)
    return Quantity(float(np.linalg.norm(ca - cb)), length_unit(grid), "centroid_distance")
