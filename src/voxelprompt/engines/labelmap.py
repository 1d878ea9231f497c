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
    exact = True  # the user's own segmentation: the router puts it before every estimating engine

    def __init__(self, labels: Volume | list[Volume], vocabulary: Vocabulary | None = None, *,
                 images: list[Volume] | None = None) -> None:
        self.maps = labels if isinstance(labels, list) else [labels]
        if not self.maps:
            raise VoxelPromptError("no label map given", "pass a label map with FreeSurfer LUT ids")
        for lab in self.maps:
            require_labels(lab, "label map")
        self.labels = self.maps[0]
        # when given, images[k] is the scan maps[k] belongs to (e.g. visit1 and visit2 on one grid)
        self._owners = list(zip(images, self.maps)) if images else []
        self.vocabulary = vocabulary or load_vocabulary()
        self._present = {int(v) for lab in self.maps for v in np.unique(np.asarray(lab.array))}
        self._on_grid: dict[tuple, Volume] = {}  # the label map resampled onto each image grid seen

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
        labels = self.label_map([image])
        mask = np.isin(np.asarray(labels.array), ids)
        present = bool(mask.any())
        return Segmentation(image.with_array(mask, channel_names=None, intensity_unit="label"), concept, self.name,
                            present, None, 1.0 if present else 0.0,
                            {"labels": ids, "labels_found": sorted(set(ids) & self._present),
                             "label_map": labels.metadata.source})

    def label_map(self, volumes: list[Volume]) -> Volume:
        """The label map of ``volumes[0]`` on its grid: the map given for that scan, else one on its
        grid, else the first map resampled label-preservingly (once per grid)."""
        image = volumes[0]
        for owner, lab in self._owners:
            if owner is image:
                return lab if lab.same_grid(image) else self._resampled(lab, image)
        for lab in self.maps:
            if lab.same_grid(image):
                return lab
        return self._resampled(self.labels, image)

    def _resampled(self, labels: Volume, image: Volume) -> Volume:
        key = (id(labels), np.asarray(image.affine, np.float64).tobytes(), tuple(image.shape[:3]))
        if key not in self._on_grid:
            self._on_grid = {key: resample_to(labels, image, interpolation="label")}
        return self._on_grid[key]
