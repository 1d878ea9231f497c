"""The concept vocabulary: anatomy, composites, pathology and non-brain concepts.

The data file ``data/vocabulary.json`` is built by ``scripts/build_vocabulary.py`` from the atlases'
label tables. A *structure* is a vocabulary entry (``hippocampus``); a :class:`ConceptRef` is a
structure with a side (``left hippocampus``), which is what engines segment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

Side = Literal["left", "right", "both", "midline"]
ATLAS_PREFERENCE = ("freesurfer", "neuromorphometrics", "harvard_oxford", "aal", "juelich")


@dataclass(frozen=True)
class Concept:
    """One vocabulary entry.

    Attributes:
        name: Canonical name, e.g. ``"hippocampus"``.
        kind: ``"anatomy"``, ``"composite"`` or ``"pathology"``.
        region: ``"brain"`` or the body region (``"abdomen"``, ``"thorax"``, ``"any"`` ...).
        group: Tissue group (``"cortex"``, ``"ventricle"``, ``"basal ganglia"`` ...).
        lobe: Cortical lobe for cortical regions.
        lateral: True if the structure has a left and a right part.
        synonyms: Other names and abbreviations.
        labels: ``{atlas: {"left"|"right"|"midline": [label ids]}}``.
        members: For composites: ``{"groups": [...]}``, ``{"names": [...]}`` or ``{"lobe": ...}``.
        normative_ml: Broad adult range of one side's volume (or the whole, if not lateral), mL.
    """

    name: str
    kind: str
    region: str
    group: str
    lobe: str | None
    lateral: bool
    synonyms: tuple[str, ...]
    labels: dict[str, dict[str, list[int]]] = field(default_factory=dict, hash=False, compare=False)
    members: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    normative_ml: tuple[float, float] | None = None

    @property
    def fs_ids(self) -> dict[str, list[int]]:
        """FreeSurfer LUT ids per side (empty if the concept has none)."""
        return self.labels.get("freesurfer", {})


@dataclass(frozen=True)
class ConceptRef:
    """A concept with a side: what a user asks for and an engine segments."""

    concept: Concept
    side: Side

    @property
    def name(self) -> str:
        if self.side in ("left", "right"):
            return f"{self.side} {self.concept.name}"
        return self.concept.name

    def __str__(self) -> str:
        return self.name


class Vocabulary:
    """All concepts, with lookup of labels per atlas (composites resolved to unions)."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.version: str = payload["version"]
        self.atlases: dict[str, str] = payload["atlases"]
        self.concepts: dict[str, Concept] = {}
        for raw in payload["concepts"]:
            c = Concept(
                name=raw["name"], kind=raw["kind"], region=raw["region"], group=raw["group"],
                lobe=raw.get("lobe"), lateral=bool(raw["lateral"]), synonyms=tuple(raw["synonyms"]),
                labels=raw.get("labels", {}), members=raw.get("members"),
                normative_ml=tuple(raw["normative_ml"]) if raw.get("normative_ml") else None,
            )
            self.concepts[c.name] = c

    def __len__(self) -> int:
        return len(self.concepts)

    def __getitem__(self, name: str) -> Concept:
        return self.concepts[name]

    def refs(self) -> list[ConceptRef]:
        """Every concept with each side it can take: lateral ones as left, right and both."""
        out = []
        for c in self.concepts.values():
            sides: tuple[Side, ...] = ("left", "right", "both") if c.lateral else ("midline",)
            out += [ConceptRef(c, s) for s in sides]
        return out

    def members(self, concept: Concept) -> list[Concept]:
        """The anatomical structures a composite stands for (a structure stands for itself)."""
        if concept.kind != "composite" or not concept.members:
            return [concept]
        spec = concept.members
        anatomy = [c for c in self.concepts.values() if c.kind == "anatomy" and c.region == "brain"]
        if "names" in spec:
            return [self.concepts[n] for n in spec["names"]]
        if "groups" in spec:
            return [c for c in anatomy if c.group in spec["groups"]]
        return [c for c in anatomy if c.lobe == spec["lobe"] and c.group == "cortex"]

    def labels(self, ref: ConceptRef, atlas: str) -> list[int]:
        """Label ids of ``ref`` in ``atlas`` (empty if the atlas does not have it)."""
        ids: list[int] = []
        for member in self.members(ref.concept):
            by_side = member.labels.get(atlas, {})
            wanted = [ref.side] if ref.side in ("left", "right") else ["left", "right", "midline"]
            for side in wanted:
                ids += [i for i in by_side.get(side, []) if i not in ids]
        return ids

    def atlases_for(self, ref: ConceptRef) -> list[str]:
        """Atlases that define ``ref``, in order of preference."""
        return [a for a in ATLAS_PREFERENCE if self.labels(ref, a)]

    def by_fs_id(self, lut_id: int) -> ConceptRef | None:
        """The concept that a FreeSurfer LUT id stands for."""
        for c in self.concepts.values():
            for side, ids in c.fs_ids.items():
                if lut_id in ids:
                    return ConceptRef(c, side)  # type: ignore[arg-type]
        return None


@cache
def load_vocabulary() -> Vocabulary:
    """The vocabulary shipped with the package."""
    text = resources.files("voxelprompt.concepts").joinpath("data/vocabulary.json").read_text("utf-8")
    return Vocabulary(json.loads(text))
