"""Shape measurements against analytic values and independent scikit-image/SciPy computations."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import measure as skm

from tests.conftest import make_ellipsoid, oblique_affine
from voxelprompt.measure import shape
from voxelprompt.measure.table import measure_labels
from voxelprompt.volume import Volume, VolumeMetadata


def test_volume_is_voxel_count_times_voxel_volume(ellipsoid):
    mask = ellipsoid.mask.array.astype(bool)
    q = shape.region_volume(mask, ellipsoid.mask)
    expected = mask.sum() * 0.9 * 1.3 * 2.5 / 1000.0
    assert q.unit == "mL"
    assert q.value == pytest.approx(expected, rel=1e-9)
    assert q.value == pytest.approx(ellipsoid.analytic_volume_ml, rel=0.02)


def test_surface_area_matches_marching_cubes_with_spacing_and_analytic(ellipsoid):
    mask = ellipsoid.mask.array.astype(bool)
    q = shape.surface_area(mask, ellipsoid.mask)
    # independent reference: scikit-image marching cubes with per-axis spacing (the grid is a
    # rotation of an axis-aligned grid, and rotations preserve area)
    verts, faces, _, _ = skm.marching_cubes(np.pad(mask, 1).astype(float), 0.5, spacing=(0.9, 1.3, 2.5))
    reference = skm.mesh_surface_area(verts, faces)
    assert q.unit == "mm^2"
    assert q.value == pytest.approx(reference, rel=1e-6)
    # the staircase makes binary marching cubes run above the smooth ellipsoid, but not by much
    assert ellipsoid.analytic_area_mm2 < q.value < 1.25 * ellipsoid.analytic_area_mm2


def test_max_diameter_is_the_longest_axis_within_one_voxel(ellipsoid):
    q = shape.max_diameter(ellipsoid.mask.array.astype(bool), ellipsoid.mask)
    assert q.unit == "mm"
    assert 2 * 22.0 - 2.5 <= q.value <= 2 * 22.0
    a, b = (np.array(p) for p in q.provenance["endpoints_mm"])
    assert abs(np.dot((a - b) / np.linalg.norm(a - b), ellipsoid.axes[:, 0])) > 0.99


def test_max_diameter_equals_brute_force_on_irregular_shape():
    rng = np.random.default_rng(3)
    arr = rng.random((14, 12, 9)) > 0.8
    grid = Volume(arr.astype(np.uint8), oblique_affine((0.7, 1.1, 2.0)))
    pts = grid.world_from_voxel(np.argwhere(arr))
    brute = np.max(np.linalg.norm(pts[:, None] - pts[None], axis=-1))
    assert shape.max_diameter(arr, grid).value == pytest.approx(brute, rel=1e-9)


def test_centroid_is_the_true_world_centre(ellipsoid):
    q = shape.centroid(ellipsoid.mask.array.astype(bool), ellipsoid.mask)
    assert np.linalg.norm(np.array(q.value) - ellipsoid.center_mm) < 0.2


def test_recist_axes_of_an_axial_ellipse_cylinder():
    # elliptic cylinder along z: in-plane semi-axes 20 and 8 mm, grid 0.5 x 0.5 x 3 mm, RAS
    spacing = np.array([0.5, 0.5, 3.0])
    shape_vox = (100, 60, 8)
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = -spacing * (np.array(shape_vox) - 1) / 2
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape_vox], indexing="ij"), -1)
    grid_xyz = ijk @ affine[:3, :3].T + affine[:3, 3]
    mask = (grid_xyz[..., 0] / 20.0) ** 2 + (grid_xyz[..., 1] / 8.0) ** 2 <= 1
    mask[:, :, [0, -1]] = False
    grid = Volume(mask.astype(np.uint8), affine)
    long_axis, short_axis = shape.recist_diameters(mask, grid)
    assert long_axis.value == pytest.approx(40.0, abs=1.0)
    assert short_axis.value == pytest.approx(16.0, abs=1.0)
    assert long_axis.provenance["slice_axis"] == "k"


def test_bounding_box_in_world_mm(ellipsoid):
    box = shape.bounding_box(ellipsoid.mask.array.astype(bool), ellipsoid.mask)
    # half-extent of an ellipsoid along world axis e is sqrt(sum((a_i * (R^T e)_i)^2))
    half = np.sqrt(((ellipsoid.axes * ellipsoid.semi_axes_mm) ** 2).sum(axis=1))
    np.testing.assert_allclose(box["max_mm"], ellipsoid.center_mm + half, atol=2.0)
    np.testing.assert_allclose(box["min_mm"], ellipsoid.center_mm - half, atol=2.0)


def test_same_numbers_after_reversing_axis_order():
    # the same physical ellipsoid sampled in RAS order and in LPI order measures the same
    ras = make_ellipsoid(axis_signs=(1, 1, 1))
    lpi = make_ellipsoid(axis_signs=(-1, -1, -1))
    a = measure_labels(ras.mask)[0].quantities
    b = measure_labels(lpi.mask)[0].quantities
    assert a["volume_ml"].value == pytest.approx(b["volume_ml"].value, rel=0.02)
    assert np.allclose(a["centroid_mm"].value, b["centroid_mm"].value, atol=0.3)


def test_2d_area_and_perimeter_of_a_disc_in_pixels():
    yy, xx = np.mgrid[0:101, 0:101]
    disc = ((xx - 50) ** 2 + (yy - 50) ** 2 <= 30 ** 2)
    grid = Volume(disc.T[:, :, None].astype(np.uint8), np.eye(4),
                  VolumeMetadata(spatial_unit="pixel", is_2d=True))
    region = measure_labels(grid)[0].to_json()
    assert region["area_px2"] == pytest.approx(np.pi * 30 ** 2, rel=0.01)
    assert region["perimeter_px"] == pytest.approx(2 * np.pi * 30, rel=0.015)
    assert region["max_diameter_px"] == pytest.approx(60.0, abs=1.0)
    assert region["centroid_px"][:2] == pytest.approx([50.0, 50.0], abs=1e-6)


def test_2d_measurements_in_mm_with_anisotropic_pixels():
    # ellipse with semi-axes 12 mm (x) and 6 mm (y) on 0.2 x 0.4 mm pixels
    spacing = (0.2, 0.4)
    xs = (np.arange(160) - 79.5) * spacing[0]
    ys = (np.arange(50) - 24.5) * spacing[1]
    inside = (xs[:, None] / 12.0) ** 2 + (ys[None, :] / 6.0) ** 2 <= 1
    grid = Volume(inside[:, :, None].astype(np.uint8), np.diag([0.2, 0.4, 1.0, 1.0]),
                  VolumeMetadata(is_2d=True))
    region = measure_labels(grid)[0].to_json()
    assert region["area_mm2"] == pytest.approx(np.pi * 12 * 6, rel=0.01)
    ramanujan = np.pi * (3 * 18 - np.sqrt((3 * 12 + 6) * (12 + 3 * 6)))
    assert region["perimeter_mm"] == pytest.approx(ramanujan, rel=0.05)
    assert region["recist_long_axis_mm"] == pytest.approx(24.0, abs=0.4)
    assert region["recist_short_axis_mm"] == pytest.approx(12.0, abs=0.8)


def test_planar_shape_of_an_ellipse_in_mm_and_in_pixels():
    yy, xx = np.mgrid[0:200, 0:240]
    mask = ((xx - 120) / 80.0) ** 2 + ((yy - 100) / 40.0) ** 2 <= 1  # semi-axes 80 x 40 px
    arr = np.swapaxes(mask, 0, 1)[:, :, None]
    grid = Volume(np.zeros(arr.shape, np.uint8), np.diag([0.2, 0.2, 1.0, 1.0]))
    found = shape.planar_shape(arr, grid)
    assert found["area"].unit == "mm^2"
    assert found["area"].value == pytest.approx(np.pi * 16 * 8, rel=0.01)  # 80 px = 16 mm, 40 px = 8 mm
    assert found["long_axis"].value == pytest.approx(32.0, abs=0.3)
    assert found["long_axis"].key == "longest_diameter_mm"
    assert found["short_axis"].value == pytest.approx(16.0, abs=0.4)
    assert found["short_axis"].key == "perpendicular_width_mm"
    ramanujan = np.pi * (3 * (16 + 8) - np.sqrt((3 * 16 + 8) * (16 + 3 * 8)))
    assert found["perimeter"].value == pytest.approx(ramanujan, rel=0.02)
    assert found["circularity"].value == pytest.approx(4 * np.pi * np.pi * 128 / ramanujan ** 2, rel=0.04)
    pixels = Volume(np.zeros(arr.shape, np.uint8), np.eye(4), VolumeMetadata(spatial_unit="pixel"))
    in_px = shape.planar_shape(arr, pixels)
    assert in_px["area"].unit == "px^2" and in_px["long_axis"].key == "longest_diameter_px"
    assert in_px["area"].value == pytest.approx(mask.sum())
