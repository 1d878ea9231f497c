"""Free text -> concept.

Order: laterality words are parsed explicitly (never left to similarity); then the rest is matched
exactly against names, synonyms and abbreviations; then a pathology word anywhere wins (so
"hippocampal tumor" is a tumor, not a hippocampus); then typo-tolerant string similarity; then the
frozen sentence-embedding model ranks the vocabulary. Below the thresholds the answer is
"unknown concept" with the three nearest suggestions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from rapidfuzz import fuzz, process

from voxelprompt.concepts.vocabulary import Concept, ConceptRef, Side, Vocabulary, load_vocabulary

FUZZY_MIN = 88.0  # rapidfuzz token-sort ratio (0-100) for typos and word order
EMBED_MIN = 0.72  # cosine similarity of sentence embeddings
EMBED_MARGIN = 0.02  # the best concept must beat a different concept by this much

_SIDE_WORDS: list[tuple[str, Side]] = [
    (r"left and right|right and left|both sides?|bilateral(?:ly)?|bilat|both|total|combined", "both"),
    (r"left[- ]sided|left side of|left|lt|lh|sinister|sin", "left"),
    (r"right[- ]sided|right side of|right|rt|rh|dexter|dx", "right"),
]
_SINGLE_LETTER = {"l": "left", "r": "right"}
_FILLER = {"the", "a", "an", "my", "of", "this", "that", "its", "whole", "ctx"}


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, apostrophes dropped, single spaces."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    text = re.sub(r"[^a-z0-9.]+", " ", text)
    text = re.sub(r"(?<![0-9])\.|\.(?![0-9])", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _stem(word: str) -> str:
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("ae"):
        return word[:-1]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def key(text: str) -> str:
    """Matching key: normalised, filler words dropped, simple plurals folded."""
    words = [w for w in normalise(text).split() if w not in _FILLER]
    return " ".join(_stem(w) for w in words)


def parse_side(text: str) -> tuple[Side | None, str]:
    """Split laterality words from ``text``: ('left'|'right'|'both'|None, the rest)."""
    norm = normalise(text)
    side: Side | None = None
    for pattern, value in _SIDE_WORDS:
        m = re.search(rf"(?<![a-z0-9])(?:{pattern})(?![a-z0-9])", norm)
        if m:
            side = value
            norm = (norm[: m.start()] + " " + norm[m.end():]).strip()
            break
    if side is None:
        words = norm.split()
        if len(words) > 1 and words[0] in _SINGLE_LETTER:
            side, norm = _SINGLE_LETTER[words[0]], " ".join(words[1:])  # type: ignore[assignment]
        elif len(words) > 1 and words[-1] in _SINGLE_LETTER:
            side, norm = _SINGLE_LETTER[words[-1]], " ".join(words[:-1])  # type: ignore[assignment]
    return side, re.sub(r"\s+", " ", norm).strip()


@dataclass(frozen=True)
class Match:
    """The result of matching text to the vocabulary.

    Attributes:
        text: The text the user gave.
        status: ``"matched"``, ``"unknown"`` (no concept close enough) or ``"invalid"`` (e.g. a
            side for a structure that has none).
        ref: The concept with its side, when matched.
        method: ``"exact"``, ``"pathology-word"``, ``"fuzzy"`` or ``"embedding"``.
        score: Similarity of the match (1.0 for exact).
        suggestions: The nearest concept names, best first (for unknown text).
        message: A one-line explanation for anything but a clean match.
    """

    text: str
    status: Literal["matched", "unknown", "invalid"]
    ref: ConceptRef | None = None
    method: str | None = None
    score: float = 0.0
    suggestions: tuple[str, ...] = field(default_factory=tuple)
    message: str = ""

    def to_json(self) -> dict:
        return {"text": self.text, "status": self.status, "matched": self.ref.name if self.ref else None,
                "kind": self.ref.concept.kind if self.ref else None,
                "region": self.ref.concept.region if self.ref else None, "side": self.ref.side if self.ref else None,
                "method": self.method, "score": round(self.score, 4), "suggestions": list(self.suggestions),
                "message": self.message}


class ConceptMatcher:
    """Matches free text to :class:`ConceptRef`; the embedding model loads only when needed."""

    def __init__(self, vocabulary: Vocabulary | None = None, *, use_embeddings: bool = True) -> None:
        self.vocabulary = vocabulary or load_vocabulary()
        self.use_embeddings = use_embeddings
        self._phrases: dict[str, Concept] = {}
        for c in self.vocabulary.concepts.values():
            for phrase in (c.name, *c.synonyms):
                self._phrases.setdefault(key(phrase), c)
        self._pathology = sorted(((k, c) for k, c in self._phrases.items() if c.kind == "pathology"),
                                 key=lambda kc: -len(kc[0]))

    def match(self, text: str) -> Match:
        """Match ``text`` (a concept phrase such as "rt. hippocampi") to the vocabulary."""
        side, rest = parse_side(text)
        k = key(rest)
        if not k:
            return Match(text, "unknown", message=f"'{text}' names no structure",
                         suggestions=self.suggest(text))
        concept, method, score = self._exact(k)
        if concept is None:
            concept, method, score = self._pathology_word(k)
        if concept is None:
            concept, method, score = self._fuzzy(k)
        if concept is None and self.use_embeddings:
            concept, method, score = self._embedding(rest)
        if concept is None:
            sugg = self.suggest(text)
            return Match(text, "unknown", score=score, suggestions=sugg,
                         message=f"unknown concept '{text}'; nearest: {', '.join(sugg)}")
        return self._with_side(text, concept, side, method or "", score)

    def _with_side(self, text: str, concept: Concept, side: Side | None, method: str, score: float) -> Match:
        if concept.lateral:
            ref = ConceptRef(concept, side or "both")
        elif side in ("left", "right"):
            return Match(text, "invalid", ConceptRef(concept, "midline"), method, score,
                         message=f"'{concept.name}' has no {side} part in the vocabulary; ask for the whole "
                                 f"structure")
        else:
            ref = ConceptRef(concept, "midline")
        return Match(text, "matched", ref, method, score)

    def _exact(self, k: str) -> tuple[Concept | None, str | None, float]:
        c = self._phrases.get(k)
        return (c, "exact", 1.0) if c else (None, None, 0.0)

    def _pathology_word(self, k: str) -> tuple[Concept | None, str | None, float]:
        padded = f" {k} "
        for phrase, c in self._pathology:
            if f" {phrase} " in padded:
                return c, "pathology-word", 1.0
        return None, None, 0.0

    def _fuzzy(self, k: str) -> tuple[Concept | None, str | None, float]:
        if len(k) < 5:
            return None, None, 0.0
        best = process.extractOne(k, list(self._phrases), scorer=fuzz.token_sort_ratio)
        if best and best[1] >= FUZZY_MIN and abs(len(best[0]) - len(k)) <= max(3, len(k) // 5):
            return self._phrases[best[0]], "fuzzy", best[1] / 100.0
        return None, None, 0.0

    def _embedding(self, text: str) -> tuple[Concept | None, str | None, float]:
        ranked = self.rank(text, top=8)
        if not ranked:
            return None, None, 0.0
        best_c, best_s = ranked[0]
        other = next((s for c, s in ranked[1:] if c.name != best_c.name), 0.0)
        if best_s >= EMBED_MIN and best_s - other >= EMBED_MARGIN:
            return best_c, "embedding", best_s
        return None, None, best_s

    def rank(self, text: str, top: int = 3) -> list[tuple[Concept, float]]:
        """Vocabulary concepts nearest to ``text`` by sentence-embedding cosine similarity."""
        from voxelprompt.concepts.embeddings import phrase_index

        index = phrase_index(tuple(sorted(self._phrases)))
        scores = index.similarities(normalise(text))
        seen: dict[str, tuple[Concept, float]] = {}
        for phrase, s in sorted(zip(index.phrases, scores, strict=True), key=lambda ps: -ps[1]):
            c = self._phrases[phrase]
            if c.name not in seen:
                seen[c.name] = (c, float(s))
            if len(seen) >= top:
                break
        return list(seen.values())

    def suggest(self, text: str, n: int = 3) -> tuple[str, ...]:
        """The ``n`` nearest concept names (string similarity, plus embeddings when enabled)."""
        _, rest = parse_side(text)
        k = key(rest) or normalise(text)
        names: list[str] = []
        if self.use_embeddings:
            try:
                names = [c.name for c, _ in self.rank(rest or text, top=n)]
            except Exception:  # noqa: BLE001 - suggestions must never fail the answer
                names = []
        if len(names) < n:
            for phrase, _, _ in process.extract(k, list(self._phrases), scorer=fuzz.WRatio, limit=12):
                name = self._phrases[phrase].name
                if name not in names:
                    names.append(name)
                if len(names) >= n:
                    break
        return tuple(names[:n])


@cache
def default_matcher() -> ConceptMatcher:
    """A shared matcher over the shipped vocabulary."""
    return ConceptMatcher()
