"""Values a program works with: images by role, regions (masks), and the answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxelprompt.measure import Quantity
from voxelprompt.volume import Volume


@dataclass
class Image:
    """An input image and the role it was given (``t1``, ``flair``, ``visit1`` ...)."""

    role: str
    volume: Volume

    def __repr__(self) -> str:
        return f"Image({self.role!r}, shape={self.volume.shape})"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.volume.shape)


@dataclass
class Region:
    """A mask on an image's grid, with where it came from.

    Attributes:
        name: What the mask shows ("left hippocampus", "dilate(lesion, 2 mm)" ...).
        mask: Boolean Volume on the grid of ``image``.
        image: The role of the image whose grid the mask is on.
        present: Whether the region holds any voxel.
        engine: The engine that segmented it (or "derived").
        step: The program step that made it.
        confidence: The engine's confidence in [0, 1].
        provenance: Engine details.
    """

    name: str
    mask: Volume
    image: str
    engine: str = "derived"
    step: int | None = None
    confidence: float = 1.0
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return bool(np.asarray(self.mask.array).any())

    @property
    def voxels(self) -> int:
        return int(np.count_nonzero(np.asarray(self.mask.array)))

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.mask.array, bool)

    def __repr__(self) -> str:
        return f"Region({self.name!r}, voxels={self.voxels}, engine={self.engine!r})"

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"region": self.name, "present": self.present, "voxels": self.voxels,
                               "engine": self.engine}
        if self.mask.is_physical and not self.mask.is_2d:
            out["volume_ml"] = round(self.voxels * self.mask.voxel_volume / 1000.0, 4)
        return out


@dataclass
class Answer:
    """What ``answer(text, values)`` recorded."""

    text: str
    values: list[Quantity]
    step: int | None


def quantity_label(q: Quantity) -> str:
    """A readable name for a value: "left hippocampus volume", "ratio" ..."""
    region = q.provenance.get("region")
    return f"{region} {q.name}".strip() if region else q.name
