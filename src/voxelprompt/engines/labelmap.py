"""The ``labels`` engine: serve an existing label map with FreeSurfer LUT ids as an engine.

Users who already ran FreeSurfer, SynthSeg or FastSurfer can query those segmentations by name.
"""

from __future__ import annotations

import numpy as np

from voxelprompt.concepts import ConceptRef, Vocabulary, load_vocabulary
from voxelprompt.engines.base import Engine, Prompts, Segmentation
from voxelprompt.errors import VoxelPromptError
from voxelprompt.volume import Volume
from voxelprompt.volume.checks import require_labels
from voxelprompt.volume.geometry import resample_to


class LabelMapEngine(Engine):
    """Masks read from a label map (resampled label-preservingly onto the image grid if needed)."""

    name = "labels"

    def __init__(self, labels: Volume, vocabulary: Vocabulary | None = None) -> None:
        require_labels(labels, "label map")
        self.labels = labels
        self.vocabulary = vocabulary or load_vocabulary()
        self._present = {int(v) for v in np.unique(np.asarray(labels.array))}

    def why_not(self, concept: ConceptRef, modality: str | None) -> str:
        ids = self.vocabulary.labels(concept, "freesurfer")
        if not ids:
            return f"'{concept.name}' has no FreeSurfer label id"
        return ""

    def segment(self, volumes: list[Volume], concept: ConceptRef, prompts: Prompts | None = None) -> Segmentation:
        if not volumes:
            raise VoxelPromptError("no image given", "pass the scan the label map belongs to")
        image = volumes[0]
        ids = self.vocabulary.labels(concept, "freesurfer")
        if not ids:
            raise VoxelPromptError(f"'{concept.name}' has no FreeSurfer label id", "ask for another structure")
        labels = self.labels
        if not labels.same_grid(image):
            labels = resample_to(labels, image, interpolation="label")
        mask = np.isin(np.asarray(labels.array), ids)
        present = bool(mask.any())
        return Segmentation(image.with_array(mask, channel_names=None, intensity_unit="label"), concept, self.name,
                            present, None, 1.0 if present else 0.0,
                            {"labels": ids, "labels_found": sorted(set(ids) & self._present),
                             "label_map": labels.metadata.source})
