"""Synthetic cases keep image and truth aligned; the harness scores a perfect engine as perfect."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from voxelprompt.concepts import ConceptMatcher
from voxelprompt.engines.labelmap import LabelMapEngine
from voxelprompt.evaluation.cases import case_geometry, make_case
from voxelprompt.evaluation.harness import DEFAULT_STRUCTURES, evaluate_case, summarise
from voxelprompt.vision.templates import atlas_labels


def test_same_seed_same_case_and_ground_truth_volumes_are_preserved():
    a = make_case(5, "mni152-fsl-brain", deformation_mm=0.0, rotation_deg=0.0)
    b = make_case(5, "mni152-fsl-brain", deformation_mm=0.0, rotation_deg=0.0)
    np.testing.assert_array_equal(a.image.array, b.image.array)
    assert a.image.same_grid(a.labels)
    atlas = atlas_labels("freesurfer")
    for label in (17, 41, 49):
        truth_ml = np.sum(np.asarray(atlas.array) == label) * atlas.voxel_volume / 1000
        case_ml = np.sum(np.asarray(a.labels.array) == label) * a.labels.voxel_volume / 1000
        # case world p maps to template world A p (+ shifts): volumes shrink by |det A|
        det = abs(np.linalg.det(np.array(a.description["case_to_template_linear"])))
        assert case_ml == pytest.approx(truth_ml / det, rel=0.06)


def test_case_geometry_is_the_transform_the_case_was_made_with():
    case = make_case(7, "icbm2009c-brain")  # the contrast drawn first, as make_case does
    affine, shape, points = case_geometry(7)
    assert shape == case.image.shape and np.array_equal(affine, case.image.affine)
    atlas = atlas_labels("freesurfer")
    vox = np.linalg.inv(atlas.affine) @ np.vstack([points, np.ones(points.shape[1])])
    labels = ndimage.map_coordinates(np.asarray(atlas.array), vox[:3], order=0, cval=0).reshape(shape)
    np.testing.assert_array_equal(labels, case.labels.array)  # the truth, voxel for voxel


def test_harness_scores_the_case_labels_as_perfect():
    case = make_case(6, "icbm2009c-brain", contrast="remapped")
    refs = [ConceptMatcher(use_embeddings=False).match(s).ref for s in DEFAULT_STRUCTURES]
    result = evaluate_case(LabelMapEngine(case.labels), case, refs)
    report = summarise("labels", [result], [r.name for r in refs], 1.0)
    assert report["mean_dice"] == pytest.approx(1.0)
    assert all(v["hd95_mm"] == pytest.approx(0.0) and v["nsd"] == pytest.approx(1.0)
               for v in report["structures"].values())


def _report(engine: str, scores: list[dict[str, float]]) -> dict:
    names = list(scores[0])
    return {"engine": engine, "median_seconds_per_case": 1.0,
            "cases": [{"case": f"c{k}", "seconds": 1.0, "mean_dice": sum(s.values()) / len(s),
                       "scores": {n: {"dice": v} for n, v in s.items()}} for k, s in enumerate(scores)],
            "structures": {n: {"dice": sum(s[n] for s in scores) / len(scores)} for n in names},
            "mean_dice": sum(v for s in scores for v in s.values()) / (len(scores) * len(names))}


def test_comparison_with_a_saved_report_of_more_structures_uses_only_the_shared_ones():
    from voxelprompt.evaluation import compare_reports

    net = _report("net", [{"a": 0.8}, {"a": 0.6}])
    atlas = _report("atlas", [{"a": 0.5, "b": 1.0}, {"a": 0.7, "b": 1.0}])
    cmp = compare_reports(net, atlas)["comparison"]
    assert cmp["other_mean_dice"] == pytest.approx(0.6)  # structure b is not in the net's report
    assert cmp["mean_dice_difference"] == pytest.approx(0.1)
    assert [c["mean_dice"] for c in cmp["other_cases"]] == pytest.approx([0.5, 0.7])
    with pytest.raises(ValueError, match="does not score b"):
        compare_reports(atlas, net)
