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
