"""The engine protocol, the Segmentation result, and the router that picks an engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from voxelprompt.concepts import ConceptRef
from voxelprompt.errors import VoxelPromptError
from voxelprompt.volume import Volume


class UnsupportedConcept(VoxelPromptError):
    """No available engine can segment the concept (pathology without a lesion engine, non-brain...)."""


@dataclass
class Prompts:
    """Optional spatial prompts: boxes and points in world mm of the first image."""

    boxes_mm: list[tuple[float, float, float, float, float, float]] = field(default_factory=list)
    points_mm: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass
class Segmentation:
    """A mask in the input geometry plus what produced it.

    Attributes:
        mask: Boolean mask on the first input image's grid.
        concept: The concept segmented.
        engine: Engine name.
        present: Whether the concept was found at all.
        probability: Per-voxel probability on the same grid, if the engine has one.
        confidence: Overall confidence in [0, 1].
        provenance: Engine details (template, atlas, labels, transform, seconds ...).
    """

    mask: Volume
    concept: ConceptRef
    engine: str
    present: bool
    probability: Volume | None = None
    confidence: float = 1.0
    provenance: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """A segmentation engine."""

    name: str

    def why_not(self, concept: ConceptRef, modality: str | None) -> str:
        """One line saying why ``concept`` is not supported (empty if it is)."""

    def supports(self, concept: ConceptRef, modality: str | None) -> bool:
        """Whether this engine can segment ``concept`` in an image of ``modality``."""
        return self.why_not(concept, modality) == ""

    def segment(self, volumes: list[Volume], concept: ConceptRef, prompts: Prompts | None = None) -> Segmentation:
        """Segment ``concept`` in ``volumes`` (co-registered; the first sets the output grid)."""


PICTURE_MODALITIES = ("US", "XC", "ES", "OT", "DX", "CR", "MG")  # 2D pictures, not head scans


def checked_head_scan(engine: Engine, volumes: list[Volume], concepts: list[ConceptRef], hint: str) -> Volume:
    """``volumes[0]`` once ``engine`` accepts every concept on it and it is a single-channel 3D head scan.

    Refusals are ``VoxelPromptError``s naming the engine, the concept and its ``why_not`` reason,
    with ``hint`` as what to do instead.
    """
    if not volumes:
        raise VoxelPromptError("no image given", "pass the scan to segment")
    image = volumes[0]
    for concept in concepts:
        reason = engine.why_not(concept, image.metadata.modality)
        if reason:
            raise VoxelPromptError(f"{engine.name} engine cannot segment '{concept.name}': {reason}", hint)
    if image.is_2d or not image.is_physical or np.asarray(image.array).ndim != 3:
        raise VoxelPromptError(f"the {engine.name} engine needs a single-channel 3D image with millimetre geometry",
                               "use a NIfTI/DICOM volume of the head (one contrast, one time point)")
    return image


class Router:
    """Picks an engine per concept; refuses with the engines' reasons when none supports it.

    An engine that says it ``prefers`` a concept (the network, for the concepts where the evaluation
    harness measured it above the atlas engine, and for "lesion" once its lesion check passed) is
    tried first, except that an engine reading the user's own segmentation (``exact = True``, the
    label map engine) always comes before it; otherwise the first engine in order that supports the
    concept. An engine with a preference list is used for other concepts only when the caller names it.
    """

    @staticmethod
    def _reason(e: Engine, concept: ConceptRef, modality: str | None) -> str:
        why = e.why_not(concept, modality)
        if why:
            return why
        return f"not validated for '{concept.name}' by `voxelprompt eval`; name the engine ('{e.name}') to use it"

    def __init__(self, engines: list[Engine]) -> None:
        self.engines = engines

    def pick(self, concept: ConceptRef, modality: str | None = None, engine: str | None = None) -> Engine:
        candidates = [e for e in self.engines if engine is None or e.name == engine]
        if engine is not None and not candidates:
            raise VoxelPromptError(f"no engine called '{engine}'",
                                   f"choose one of: {', '.join(e.name for e in self.engines)}")
        for e in candidates:  # a segmentation the user gave beats any estimate
            if getattr(e, "exact", False) and e.supports(concept, modality):
                return e
        for e in candidates:
            prefers = getattr(e, "prefers", None)
            if prefers is not None and prefers(concept) and e.supports(concept, modality):
                return e
        for e in candidates:
            # an engine with a preference list serves other concepts only when named
            if (engine is not None or not hasattr(e, "prefers")) and e.supports(concept, modality):
                return e
        reasons = "; ".join(f"{e.name}: {self._reason(e, concept, modality)}" for e in candidates)
        raise UnsupportedConcept(f"'{concept.name}' is not supported by the available engines ({reasons})",
                                 "ask for an anatomical brain structure, or supply a label map with --labels")
