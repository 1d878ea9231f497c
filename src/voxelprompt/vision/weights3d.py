"""Weights of the 3D network (safetensors) with the embeddings of the concepts it knows.

A weights file holds the network's tensors plus ``concepts.embeddings``: the sentence embedding of
each known concept's name, so that segmenting a known concept never loads the text model. The
names (and, for fine-tuned concepts, where they came from) are in the file's metadata.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from voxelprompt.concepts.embeddings import embed, phrase_index
from voxelprompt.errors import InputFileError
from voxelprompt.vision.concepts3d import TrainingConcept
from voxelprompt.vision.textnet3d import TextConditionedNet3D
from voxelprompt.vision.weights import read_safetensors, write_safetensors

SHIPPED3D = "textnet3d.safetensors"
EMBEDDINGS_KEY = "concepts.embeddings"


def shipped_weights3d() -> Path:
    return Path(str(resources.files("voxelprompt.vision") / "data" / SHIPPED3D))


@dataclass
class PhraseBank:
    """Sentence embeddings of every training phrase, grouped by concept."""

    names: list[str]
    rows: dict[str, np.ndarray]  # concept name -> (phrases, 384)

    @classmethod
    def for_concepts(cls, concepts: Sequence[TrainingConcept]) -> PhraseBank:
        phrases = tuple(p for c in concepts for p in c.phrases)
        vectors = phrase_index(phrases).vectors
        rows, k = {}, 0
        for c in concepts:
            rows[c.name] = vectors[k:k + len(c.phrases)]
            k += len(c.phrases)
        return cls([c.name for c in concepts], rows)

    def sample(self, names: Sequence[str], rng: np.random.Generator) -> torch.Tensor:
        """One random phrase embedding per concept name (N, 384)."""
        return torch.as_tensor(np.stack([self.rows[n][rng.integers(len(self.rows[n]))] for n in names]))

    def canonical(self, concepts: Sequence[TrainingConcept]) -> dict[str, np.ndarray]:
        """The embedding of each concept's own name (its first phrase)."""
        return {c.name: self.rows[c.name][0] for c in concepts}


@dataclass
class LoadedNet3D:
    """A network with the concepts it knows (name -> embedding)."""

    net: TextConditionedNet3D
    concepts: dict[str, np.ndarray]
    metadata: dict[str, str]

    def embedding(self, name: str) -> np.ndarray:
        """The embedding of a known concept, or of ``name`` as free text (loads the text model)."""
        if name in self.concepts:
            return self.concepts[name]
        return embed([name])[0]


def save_net3d(net: TextConditionedNet3D, path: Path, concepts: dict[str, np.ndarray], metadata: dict[str, str],
               *, half: bool = True) -> Path:
    """Write weights + concept embeddings atomically (float16 by default: half the size)."""
    dtype = torch.float16 if half else torch.float32
    state = {k: v.to(dtype) for k, v in net.state_dict().items()}
    state[EMBEDDINGS_KEY] = torch.as_tensor(np.stack(list(concepts.values()))).to(torch.float16)
    meta = {"architecture": "TextConditionedNet3D", "concepts": json.dumps(list(concepts)), **metadata}
    return write_safetensors(path, state, meta)


def load_net3d(path: Path | None = None) -> LoadedNet3D:
    """The network at ``path`` (default: the shipped weights) in eval mode, float32."""
    path = path or shipped_weights3d()
    state, metadata = read_safetensors(path)
    if metadata.get("architecture") != "TextConditionedNet3D" or EMBEDDINGS_KEY not in state:
        raise InputFileError(f"weights {path} are not for the 3D network",
                             "give weights written by `voxelprompt train` with a text3d config")
    vectors = state.pop(EMBEDDINGS_KEY).float().numpy()
    names = json.loads(metadata.get("concepts", "[]"))
    net = TextConditionedNet3D()
    missing, unexpected = net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    if missing or unexpected:
        raise InputFileError(f"weights {path} do not fit the 3D network ({len(missing)} missing, "
                             f"{len(unexpected)} unexpected tensors)", "give weights written by voxelprompt")
    return LoadedNet3D(net.eval(), dict(zip(names, vectors)), metadata)


@cache
def shipped_net3d() -> LoadedNet3D:
    return load_net3d()
