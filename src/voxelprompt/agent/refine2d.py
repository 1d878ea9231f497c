"""The refinement loop for a 2D prompted mask, in the manner of MedSAM3's agent.

Round 1 segments with the user's prompt. In each later round the critic reviews the current mask
and proposes a new prompt; the new mask replaces the current one only if the rules critic finds
it less wrong (a vision critic's advice is also kept when the rules find it no more wrong), the
segmenter's own quality score does not fall, and a looser box extends the mask rather than
redrawing it. The loop stops when the critic
is satisfied, proposes nothing, a proposal is rejected, or the rounds run out; the trace records
every round and why it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from voxelprompt.agent.critic2d import Review, RulesCritic
from voxelprompt.vision.predict2d import Instance2D, PromptSpec

SCORE_TOLERANCE = 0.02
MIN_INSIDE_IOU = 0.93


class Segmenter2D(Protocol):
    name: str

    def segment(self, picture: np.ndarray, prompts: list[PromptSpec]) -> list[Instance2D]: ...


class Critic2D(Protocol):
    name: str

    def review(self, picture: np.ndarray, instance: Instance2D, concept: str) -> Review: ...


@dataclass
class Round:
    """One round of the loop, as the trace shows it."""

    index: int
    prompt: PromptSpec
    score: float
    area_px: int
    issues: list[str]
    action: str | None = None
    accepted: bool = True

    def to_json(self) -> dict[str, Any]:
        p = self.prompt
        return {"round": self.index, "box": [round(v, 1) for v in p.box] if p.box else None,
                "points": [list(map(float, x)) for x in p.positive],
                "negative_points": [list(map(float, x)) for x in p.negative],
                "score": round(self.score, 4), "area_px": self.area_px, "issues": self.issues,
                "action": self.action, "accepted": self.accepted}


@dataclass
class Refined:
    """The kept instance, the first round's, every round, and why the loop stopped."""

    instance: Instance2D
    first: Instance2D
    rounds: list[Round] = field(default_factory=list)
    stopped: str = ""
    concept: str = ""


def _consistent(current: Instance2D, candidate: Instance2D, review: Review) -> bool:
    """A looser box must extend the mask, not redraw it: inside the old box the masks agree (IoU)."""
    if not (review.action or "").startswith("loosen") or not current.mask.any():
        return True
    x0, y0, x1, y1 = (round(v) for v in current.used_window())
    old, new = current.mask[y0:y1, x0:x1], candidate.mask[y0:y1, x0:x1]
    return np.count_nonzero(old & new) / max(np.count_nonzero(old | new), 1) >= MIN_INSIDE_IOU


def refine(segmenter: Segmenter2D, picture: np.ndarray, prompt: PromptSpec, concept: str, *,
           critic: Critic2D | None = None, max_rounds: int = 3) -> Refined:
    """Segment with ``prompt``, then let ``critic`` propose up to ``max_rounds - 1`` revisions.

    Args:
        segmenter: Box/point-prompted segmenter.
        picture: (rows, cols) or (rows, cols, 3) picture.
        prompt: The user's prompt.
        concept: What is segmented, in words (shown to a vision critic; it may rephrase it).
        critic: Reviews each mask (default: the rules critic).
        max_rounds: Rounds in all, the first included; 1 turns refinement off.
    """
    critic = critic or RulesCritic()
    rules = RulesCritic()
    current = segmenter.segment(picture, [prompt])[0]
    judged = rules.review(picture, current, concept)
    review = judged if critic.name == rules.name else critic.review(picture, current, concept)
    first = Round(1, prompt, current.score, int(current.mask.sum()), review.issues)
    result = Refined(current, current, [first], concept=concept)
    for index in range(2, max_rounds + 1):
        if not review.issues:
            result.stopped = f"round {index - 1}: the {critic.name} critic found nothing wrong"
            return result
        if review.proposal is None:
            result.stopped = f"round {index - 1}: the {critic.name} critic proposed no change"
            return result
        if review.concept:
            result.concept = review.concept
        candidate = segmenter.segment(picture, [review.proposal])[0]
        candidate_judged = rules.review(picture, candidate, result.concept)
        better = candidate_judged.severity < judged.severity or (
            critic.name != rules.name and candidate_judged.severity == judged.severity)
        accepted = bool(better and candidate.score >= current.score - SCORE_TOLERANCE) and _consistent(
            current, candidate, review)
        result.rounds.append(Round(index, review.proposal, candidate.score, int(candidate.mask.sum()),
                                   candidate_judged.issues, review.action, accepted))
        if not accepted:
            result.stopped = f"round {index}: '{review.action}' did not improve the mask; round {index - 1} kept"
            return result
        current, judged = candidate, candidate_judged
        result.instance = current
        review = judged if critic.name == rules.name else critic.review(picture, current, result.concept)
    result.stopped = result.stopped or f"stopped after {max_rounds} round(s), the most allowed"
    if not review.issues and max_rounds > 1:
        result.stopped = f"round {max_rounds}: the {critic.name} critic found nothing wrong"
    return result
