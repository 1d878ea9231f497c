"""The concepts the 3D network learns, their label ids, and the phrases that name them in training.

Anatomy comes from the vocabulary's FreeSurfer ids (left, right and both sides of every lateral
structure, the composites as unions). Pathology has no atlas: the training generator paints
synthetic lesions with the ids in ``PATHOLOGY_IDS`` and each pathology concept stands for a union
of them (a whole tumour is necrosis + enhancing rim + oedema; "lesion" is any of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from voxelprompt.concepts import ConceptRef, load_vocabulary

WM_LESION, NECROSIS, ENHANCING, EDEMA, INFARCT = 9001, 9011, 9012, 9013, 9021
PATHOLOGY_IDS = {
    "lesion": (WM_LESION, NECROSIS, ENHANCING, EDEMA, INFARCT),
    "white matter hyperintensity": (WM_LESION,),
    "multiple sclerosis lesion": (WM_LESION,),
    "tumor": (NECROSIS, ENHANCING, EDEMA),
    "metastasis": (NECROSIS, ENHANCING, EDEMA),
    "tumor core": (NECROSIS, ENHANCING),
    "enhancing tumor": (ENHANCING,),
    "necrosis": (NECROSIS,),
    "peritumoral edema": (EDEMA,),
    "infarct": (INFARCT,),
}
PARAPHRASES = ("{}", "the {}", "segment the {}", "{} mask", "outline the {}", "find the {}", "{} region",
               "where is the {}", "label the {}", "delineate the {}")


@dataclass(frozen=True)
class TrainingConcept:
    """One concept the network is trained on.

    Attributes:
        name: The concept reference's name ("left hippocampus", "tumor core").
        kind: ``"anatomy"``, ``"composite"`` or ``"pathology"``.
        ids: FreeSurfer LUT ids (anatomy) or synthetic pathology ids whose union it is.
        phrases: Names, synonyms and paraphrases used as prompt text in training.
    """

    name: str
    kind: str
    ids: tuple[int, ...]
    phrases: tuple[str, ...]


def _names(ref: ConceptRef) -> list[str]:
    bases = [ref.concept.name, *ref.concept.synonyms]
    if ref.side in ("left", "right"):
        short = ref.side[0]
        return [f"{ref.side} {b}" for b in bases] + [f"{b} ({ref.side})" for b in bases[:1]] + \
            [f"{short}h {bases[0]}", f"{ref.side}-sided {bases[0]}"]
    if ref.side == "both" and ref.concept.lateral:
        return [f"both {b}" for b in bases] + [f"left and right {bases[0]}", f"bilateral {bases[0]}"]
    return bases


def phrases_for(ref: ConceptRef) -> tuple[str, ...]:
    """Prompt texts naming ``ref``: each name and synonym with and without paraphrase."""
    out: list[str] = []
    for k, name in enumerate(_names(ref)):
        templates = PARAPHRASES if k == 0 else PARAPHRASES[:3]
        out += [t.format(name) for t in templates]
    return tuple(dict.fromkeys(out))


@cache
def training_concepts() -> tuple[TrainingConcept, ...]:
    """Every concept the network learns: brain anatomy with FreeSurfer ids, and synthetic pathology."""
    vocab = load_vocabulary()
    out = []
    for ref in vocab.refs():
        c = ref.concept
        if c.kind == "pathology":
            if c.name in PATHOLOGY_IDS and ref.side in ("midline", "both"):
                out.append(TrainingConcept(ref.name, "pathology", PATHOLOGY_IDS[c.name], phrases_for(ref)))
            continue
        if c.region != "brain":
            continue
        ids = vocab.labels(ref, "freesurfer")
        if ids:
            out.append(TrainingConcept(ref.name, c.kind, tuple(ids), phrases_for(ref)))
    return tuple(out)


def concept_by_name() -> dict[str, TrainingConcept]:
    return {c.name: c for c in training_concepts()}
