"""Concept vocabulary and the matcher from free text to concepts."""

from voxelprompt.concepts.matcher import ConceptMatcher, Match, default_matcher, parse_side
from voxelprompt.concepts.vocabulary import Concept, ConceptRef, Vocabulary, load_vocabulary

__all__ = ["Concept", "ConceptMatcher", "ConceptRef", "Match", "Vocabulary", "default_matcher",
           "load_vocabulary", "parse_side"]
