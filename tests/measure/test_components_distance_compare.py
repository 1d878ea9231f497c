"""Components, distances, comparisons, intensity statistics and quantities."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from skimage import measure as skm

from voxelprompt.errors import UnitError, VoxelPromptError
from voxelprompt.measure import (
    Quantity,
    asymmetry_index,
    centroid_distance,
    connected_components,
    intensity_stats,
    largest_component,
    min_surface_distance,
    percent_change,
    ratio,
)
from voxelprompt.volume import Volume, VolumeMetadata


def test_component_count_matches_scikit_image_for_each_connectivity():
    rng = np.random.default_rng(7)
    arr = rng.random((20, 20, 20)) > 0.75
    grid = Volume(arr.astype(np.uint8), np.diag([1.0, 2.0, 3.0, 1.0]))
    for conn, sk_conn in ((6, 1), (18, 2), (26, 3)):
        expected = skm.label(arr, connectivity=sk_conn).max()
        assert connected_components(arr, grid, connectivity=conn).count == expected


def test_component_sizes_are_sorted_and_in_ml():
    arr = np.zeros((30, 30, 30), bool)
    arr[1:4, 1:4, 1:4] = True  # 27 voxels
    arr[10:20, 10:20, 10:20] = True  # 1000 voxels
    grid = Volume(arr.astype(np.uint8), np.diag([2.0, 2.0, 2.0, 1.0]))
    comps = connected_components(arr, grid)
    assert [q.value for q in comps.sizes] == pytest.approx([8.0, 0.216])
    assert comps.sizes[0].unit == "mL"
    assert largest_component(arr, grid).sum() == 1000


def test_connectivity_must_be_valid():
    grid = Volume(np.ones((3, 3, 3), np.uint8), np.eye(4))
    with pytest.raises(VoxelPromptError, match="connectivity 5"):
        connected_components(grid.array.astype(bool), grid, connectivity=5)


def test_distances_between_two_spheres():
    affine = np.diag([0.5, 0.5, 0.5, 1.0])
    grid = Volume(np.zeros((120, 60, 60), np.uint8), affine)
    xyz = np.stack(np.meshgrid(*[np.arange(n) * 0.5 for n in grid.shape], indexing="ij"), -1)
    a = np.linalg.norm(xyz - [10, 15, 15], axis=-1) <= 6
    b = np.linalg.norm(xyz - [40, 15, 15], axis=-1) <= 8
    assert centroid_distance(a, b, grid).value == pytest.approx(30.0, abs=1e-6)
    assert min_surface_distance(a, b, grid).value == pytest.approx(30 - 6 - 8, abs=0.75)
    assert min_surface_distance(a, a | b, grid).value == 0.0


def test_comparisons_and_units():
    left, right = Quantity(4.2, "mL", "volume"), Quantity(3.8, "mL", "volume")
    assert asymmetry_index(left, right).value == pytest.approx(0.4 / 4.0)
    assert ratio(left, right).value == pytest.approx(4.2 / 3.8)
    assert percent_change(left, right).value == pytest.approx(-0.4 / 4.2 * 100)
    assert percent_change(left, right).unit == "%"
    with pytest.raises(UnitError):
        ratio(left, Quantity(3.0, "mm", "length"))
    with pytest.raises(VoxelPromptError, match="zero"):
        ratio(left, Quantity(0.0, "mL", "volume"))


def test_intensity_stats_match_simpleitk_label_statistics():
    rng = np.random.default_rng(1)
    data = rng.normal(100, 15, (16, 16, 16)).astype(np.float32)
    mask = np.zeros(data.shape, bool)
    mask[4:12, 3:10, 5:15] = True
    image = Volume(data, np.eye(4), VolumeMetadata(intensity_unit="HU"))
    stats = intensity_stats(mask, image)
    f = sitk.LabelStatisticsImageFilter()
    f.Execute(sitk.GetImageFromArray(data), sitk.GetImageFromArray(mask.astype(np.uint8)))
    assert stats["mean"].value == pytest.approx(f.GetMean(1), rel=1e-6)
    assert stats["std"].value == pytest.approx(f.GetSigma(1), rel=1e-2)
    assert stats["min"].value == pytest.approx(f.GetMinimum(1))
    assert stats["max"].value == pytest.approx(f.GetMaximum(1))
    assert stats["mean"].unit == "HU"


def test_quantity_key_json_and_text():
    q = Quantity((1.0, 2.5, float("nan")), "mm", "centroid")
    assert q.key == "centroid_mm"
    assert q.json_value() == [1.0, 2.5, None]
    assert Quantity(5.907, "mL", "volume").key == "volume_ml"
    assert str(Quantity(5.907, "mL", "volume")) == "volume = 5.907 mL"
