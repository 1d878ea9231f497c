"""Shared fixtures: analytic shapes on oblique anisotropic grids, and real sample files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from voxelprompt.samples import sample_path
from voxelprompt.volume import Volume, VolumeMetadata


def rotation(rx_deg: float, ry_deg: float, rz_deg: float) -> np.ndarray:
    """3x3 rotation from Euler angles in degrees (x, then y, then z)."""
    rx, ry, rz = np.deg2rad([rx_deg, ry_deg, rz_deg])
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


def oblique_affine(spacing, axis_signs=(-1, -1, -1), angles=(12.0, -7.0, 20.0),
                   origin=(40.0, 25.0, 60.0)) -> np.ndarray:
    """Affine with voxel axes ~ (signs x, y, z) rotated by ``angles``; (-1,-1,-1) gives LPI."""
    affine = np.eye(4)
    affine[:3, :3] = rotation(*angles) @ np.diag(axis_signs) @ np.diag(spacing)
    affine[:3, 3] = origin
    return affine


@dataclass
class Ellipsoid:
    mask: Volume
    center_mm: np.ndarray
    semi_axes_mm: np.ndarray
    axes: np.ndarray  # columns: world directions of the semi-axes

    @property
    def analytic_volume_ml(self) -> float:
        return 4.0 / 3.0 * np.pi * float(np.prod(self.semi_axes_mm)) / 1000.0

    @property
    def analytic_area_mm2(self) -> float:
        a, b, c = self.semi_axes_mm
        p = 1.6075  # Knud Thomsen's approximation, error < 1.1%
        return float(4 * np.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p))


def make_ellipsoid(spacing=(0.9, 1.3, 2.5), semi_axes=(22.0, 15.0, 11.0), center=(3.0, -12.0, 20.0),
                   shape=(80, 60, 40), axis_angles=(30.0, 10.0, -25.0), grid_angles=(12.0, -7.0, 20.0),
                   axis_signs=(-1, -1, -1)) -> Ellipsoid:
    """Voxelised ellipsoid on an oblique grid; the grid is centred near the ellipsoid."""
    affine = oblique_affine(spacing, axis_signs, grid_angles, origin=(0, 0, 0))
    mid = affine[:3, :3] @ (np.array(shape) / 2.0)
    affine[:3, 3] = np.asarray(center) - mid
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    axes = rotation(*axis_angles)
    local = (world - np.asarray(center)) @ axes
    inside = np.sum((local / np.asarray(semi_axes)) ** 2, axis=1) <= 1.0
    mask = inside.reshape(shape).astype(np.uint8)
    return Ellipsoid(Volume(mask, affine, VolumeMetadata(source="ellipsoid")), np.asarray(center, float),
                     np.asarray(semi_axes, float), axes)


@pytest.fixture(scope="session")
def ellipsoid() -> Ellipsoid:
    return make_ellipsoid()


@pytest.fixture(scope="session")
def dk_labels_path():
    return sample_path("dk-labels")


@pytest.fixture(scope="session")
def mni_t1_path():
    return sample_path("mni-t1")
