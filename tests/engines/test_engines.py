"""Engines: the router's refusals, the label-map engine, and the atlas engine on a synthetic case."""

from __future__ import annotations

import numpy as np
import pytest

from voxelprompt.concepts import ConceptMatcher
from voxelprompt.engines import Router, UnsupportedConcept
from voxelprompt.engines.atlas import AtlasEngine
from voxelprompt.engines.labelmap import LabelMapEngine
from voxelprompt.evaluation.cases import make_case
from voxelprompt.evaluation.harness import truth_mask
from voxelprompt.measure.overlap import dice
from voxelprompt.measure.shape import centroid


@pytest.fixture(scope="module")
def matcher():
    return ConceptMatcher(use_embeddings=False)


@pytest.fixture(scope="module")
def case():
    return make_case(4242, "mni152-fsl-brain", contrast="t1")


def test_router_refuses_pathology_and_organs_outside_the_brain(matcher):
    router = Router([AtlasEngine()])
    for text, word in (("tumor", "pathology"), ("liver", "outside the brain"), ("enhancing tumour", "pathology")):
        with pytest.raises(UnsupportedConcept, match=word):
            router.pick(matcher.match(text).ref, "MR")
    assert router.pick(matcher.match("left putamen").ref, "MR").name == "atlas"


def test_label_map_engine_returns_exact_structures(case, matcher):
    engine = LabelMapEngine(case.labels)
    seg = engine.segment([case.image], matcher.match("left hippocampus").ref)
    assert seg.mask.same_grid(case.image)
    np.testing.assert_array_equal(seg.mask.array, np.asarray(case.labels.array) == 17)


def test_atlas_engine_segments_in_the_input_grid_with_one_registration(case, matcher):
    engine = AtlasEngine()
    left = engine.segment([case.image], matcher.match("left hippocampus").ref)
    right = engine.segment([case.image], matcher.match("right thalamus").ref)
    assert left.mask.same_grid(case.image) and left.mask.array.dtype == bool
    assert left.present and left.engine == "atlas"
    assert right.provenance["registration_seconds"] == left.provenance["registration_seconds"]  # cached
    assert right.provenance["seconds"] < 10
    assert centroid(left.mask.array, left.mask).value[0] < 0 < centroid(right.mask.array, right.mask).value[0]
    assert dice(left.mask.array, truth_mask(case, left.concept)).value > 0.55
    assert dice(right.mask.array, truth_mask(case, right.concept)).value > 0.7


def _indicator_everywhere(reg, ids: list[int]) -> np.ndarray:
    """The readout without the boxes: the whole indicator interpolated at every voxel inside its atlas box."""
    from scipy import ndimage

    from voxelprompt.vision.templates import atlas_labels

    labels = atlas_labels("freesurfer")
    indicator = np.isin(np.asarray(labels.array), ids).astype(np.float32)
    box = ndimage.find_objects(indicator.astype(np.int8))[0]
    lo, hi = np.array([s.start for s in box]) - 1, np.array([s.stop for s in box])
    vox = reg.voxels_in("freesurfer", labels.affine)
    inside = np.all((vox >= lo) & (vox <= hi), axis=-1)
    out = np.zeros(vox.shape[:3], np.float32)
    out[inside] = ndimage.map_coordinates(indicator, vox[inside].T, order=1, mode="constant", cval=0.0)
    return out


def test_reading_a_structure_through_a_registration_only_in_its_box_changes_no_voxel():
    from voxelprompt.engines.atlas import _Registration

    # an oblique 2.5 mm grid over part of MNI space, bent smoothly, with a corner outside the template
    shape = (50, 60, 40)
    ijk = np.indices(shape, dtype=np.float32)
    angle = 0.3
    x = 2.5 * (np.cos(angle) * ijk[0] - np.sin(angle) * ijk[1]) - 40
    y = 2.5 * (np.sin(angle) * ijk[0] + np.cos(angle) * ijk[1]) - 90
    z = 2.5 * ijk[2] - 40 + 3.0 * np.sin(ijk[0] / 9.0)
    world = np.stack([x, y, z], axis=-1).astype(np.float32)
    world[:5, :5] = np.nan
    reg = _Registration(world, "icbm2009a", 0.0, "test", "test")
    for ids in ([17], [49], [4, 5], [2, 41], [8], [53]):
        got = AtlasEngine._sample_indicator(reg, "freesurfer", ids)
        np.testing.assert_array_equal(got, _indicator_everywhere(reg, ids))
    assert (AtlasEngine._sample_indicator(reg, "freesurfer", [17]) > 0.5).sum() == 376  # left hippocampus voxels
    far = _Registration(world + 500.0, "icbm2009a", 0.0, "test", "test")  # nowhere near the atlas
    assert not AtlasEngine._sample_indicator(far, "freesurfer", [17]).any()
