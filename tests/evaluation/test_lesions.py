"""Painted lesions are visible, deterministic and inside the brain; the lesion harness counts right."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from voxelprompt.engines.base import Engine, Segmentation
from voxelprompt.evaluation.cases import make_case
from voxelprompt.evaluation.lesions import WM_IDS, paint_lesions, run_lesion_eval


@pytest.fixture(scope="module")
def case():
    return make_case(7, "mni152-fsl-brain")


@pytest.mark.parametrize("seed", [3, 7, 11, 12])
def test_painted_lesions_stand_out_from_the_tissue_they_replace(case, seed):
    painted, mask = paint_lesions(case, seed)
    labels = np.asarray(case.labels.array)
    before = np.asarray(case.image.array, np.float32)
    after = np.asarray(painted.image.array, np.float32)
    assert mask.any() and painted.image.same_grid(case.image)
    assert not np.any(mask & (labels == 0))  # inside the brain only
    if painted.description["lesions"] == "white-matter lesions":
        assert np.all(np.isin(labels[mask], WM_IDS))
    lo, hi = np.percentile(before[labels > 0], [1, 99])
    contrast = abs(np.median(after[mask]) - np.median(before[mask])) / (hi - lo)
    assert 0.18 <= contrast <= 0.52  # 0.2-0.5 of the brain's range, give or take noise and soft edges
    far = ~ndimage.binary_dilation(mask, iterations=4)
    np.testing.assert_allclose(after[far], before[far], atol=1e-4 * (hi - lo))  # nothing else is touched
    assert painted.description["lesion_ml"] == pytest.approx(mask.sum() * painted.image.voxel_volume / 1000)


def test_the_same_seed_paints_the_same_lesions(case):
    a, mask_a = paint_lesions(case, 5)
    b, mask_b = paint_lesions(case, 5)
    np.testing.assert_array_equal(mask_a, mask_b)
    np.testing.assert_array_equal(a.image.array, b.image.array)
    assert not np.array_equal(paint_lesions(case, 6)[1], mask_a)


class _Constant(Engine):
    """Reports every voxel as lesion (``everywhere``) or none."""

    def __init__(self, everywhere: bool) -> None:
        self.name = "everywhere" if everywhere else "nowhere"
        self.everywhere = everywhere

    def why_not(self, concept, modality) -> str:
        return ""

    def segment(self, volumes, concept, prompts=None) -> Segmentation:
        image = volumes[0]
        mask = np.full(image.shape[:3], self.everywhere)
        return Segmentation(image.with_array(mask, channel_names=None, intensity_unit="label"), concept, self.name,
                            self.everywhere, None, 1.0, {})


def test_the_lesion_harness_scores_an_engine_that_finds_nothing_and_one_that_finds_everything():
    templates = ("mni152-fsl-brain",)
    nothing = run_lesion_eval(_Constant(False), [2], templates=templates)
    assert nothing["mean_lesion_dice"] == 0.0 and nothing["lesions_found"] == 0.0
    assert nothing["absent_rate_lesion_free"] == 1.0
    everything = run_lesion_eval(_Constant(True), [2], templates=templates)
    assert everything["lesions_found"] == 1.0 and everything["absent_rate_lesion_free"] == 0.0
    assert 0.0 < everything["mean_lesion_dice"] < 0.05  # a few ml of lesion in a whole head scan
    assert everything["lesion_free_cases"][0]["found_ml"] > 1000
