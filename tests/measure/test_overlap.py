"""Overlap metrics against SimpleITK's filters and analytic configurations."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from tests.conftest import make_ellipsoid
from voxelprompt.measure import overlap
from voxelprompt.volume import Volume


def _sitk(mask: np.ndarray, spacing) -> sitk.Image:
    img = sitk.GetImageFromArray(mask.astype(np.uint8).transpose(2, 1, 0))
    img.SetSpacing(tuple(float(s) for s in spacing))
    return img


def _pair():
    a = make_ellipsoid(spacing=(1.0, 1.2, 2.0), axis_signs=(1, 1, 1), grid_angles=(0, 0, 0))
    b = make_ellipsoid(spacing=(1.0, 1.2, 2.0), axis_signs=(1, 1, 1), grid_angles=(0, 0, 0),
                       center=(6.0, -10.0, 22.0), semi_axes=(20.0, 16.0, 10.0))
    return a.mask.array.astype(bool), b.mask.array.astype(bool), a.mask


def test_dice_and_iou_match_simpleitk():
    a, b, _grid = _pair()
    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(_sitk(b, (1, 1.2, 2)), _sitk(a, (1, 1.2, 2)))
    assert overlap.dice(a, b).value == pytest.approx(f.GetDiceCoefficient(), rel=1e-9)
    assert overlap.iou(a, b).value == pytest.approx(f.GetJaccardCoefficient(), rel=1e-9)


def test_hd95_and_msd_bounded_by_simpleitk_hausdorff():
    a, b, grid = _pair()
    f = sitk.HausdorffDistanceImageFilter()
    f.Execute(_sitk(a, (1, 1.2, 2)), _sitk(b, (1, 1.2, 2)))
    metrics = overlap.overlap_metrics(a, b, grid)
    assert 0 < metrics["hd95"].value <= f.GetHausdorffDistance() + 1e-6
    assert 0 < metrics["mean_surface_distance"].value < metrics["hd95"].value
    assert metrics["hd95"].unit == "mm"


def test_shifted_cube_distances_are_the_shift():
    grid = Volume(np.zeros((40, 40, 40), np.uint8), np.diag([0.5, 0.5, 0.5, 1.0]))
    a = np.zeros(grid.shape, bool)
    a[10:30, 10:30, 10:30] = True
    b = np.roll(a, 4, axis=0)  # 4 voxels = 2 mm along x
    m = overlap.overlap_metrics(a, b, grid, tolerance_mm=2.0)
    assert m["hd95"].value == pytest.approx(2.0, abs=1e-9)
    assert m["dice"].value == pytest.approx(16 / 20, rel=1e-9)
    assert m["nsd"].value == pytest.approx(1.0)
    strict = overlap.normalized_surface_dice(a, b, grid, tolerance_mm=1.0)
    assert 0.5 < strict.value < 1.0


def test_empty_mask_conventions():
    grid = Volume(np.zeros((10, 10, 10), np.uint8), np.eye(4))
    empty = np.zeros(grid.shape, bool)
    full = empty.copy()
    full[2:5, 2:5, 2:5] = True
    both = overlap.overlap_metrics(empty, empty, grid)
    assert both["dice"].value == 1.0 and both["hd95"].value == 0.0
    one = overlap.overlap_metrics(full, empty, grid)
    assert one["dice"].value == 0.0 and one["hd95"].value == float("inf")
    assert one["hd95"].json_value() is None
