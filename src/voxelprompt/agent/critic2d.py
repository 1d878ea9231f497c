"""Critics for a 2D prompted mask: rules, or a vision-capable OpenAI-compatible model.

A critic looks at one instance and returns a :class:`Review`: the problems it sees, a severity
(0 = nothing wrong) and a proposed new prompt (tighter or looser box, added points, another
phrase). The refinement loop decides whether the proposal is kept.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from voxelprompt.errors import VoxelPromptError
from voxelprompt.report.figures import overlay_2d
from voxelprompt.vision.classical import widen_box
from voxelprompt.vision.predict2d import Instance2D, PromptSpec

log = logging.getLogger(__name__)
EDGE_TOUCH = 0.35  # fraction of a box side covered by the mask that counts as "touching"
MIN_FILL, MAX_FILL = 0.15, 0.95  # plausible mask area as a fraction of its box
MIN_SOLIDITY = 0.7
LOOSEN = 0.3  # a box side that cuts the mask moves out by this fraction of the box's size


@dataclass
class Review:
    """What a critic saw and what it proposes."""

    issues: list[str] = field(default_factory=list)
    severity: float = 0.0
    proposal: PromptSpec | None = None
    action: str | None = None
    concept: str | None = None


def _corner_points(box: tuple[float, float, float, float], inset: float = 0.06) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    dx, dy = inset * (x1 - x0), inset * (y1 - y0)
    return [(x0 + dx, y0 + dy), (x1 - 1 - dx, y0 + dy), (x0 + dx, y1 - 1 - dy), (x1 - 1 - dx, y1 - 1 - dy)]


class RulesCritic:
    """Empty, touching the box edge, fragmented, implausible area or shape."""

    name = "rules"

    def review(self, picture: np.ndarray, instance: Instance2D, concept: str) -> Review:
        mask, prompt = instance.mask, instance.prompt
        window = instance.used_window()
        x0, y0, x1, y1 = (round(v) for v in window)
        area_box = max((x1 - x0) * (y1 - y0), 1)
        area = int(mask.sum())
        if area < 0.005 * area_box:
            centre = ((x0 + x1) / 2, (y0 + y1) / 2)
            if not prompt.positive:
                return Review(["empty mask"], 3.0, replace(prompt, positive=[centre]), "add a point at the box centre")
            return Review(["empty mask"], 3.0, replace(prompt, box=widen_box(window, 0.2, mask.shape)),
                          "loosen the box")
        issues, severity = [], 0.0
        sides = {"left": mask[y0:y1, x0], "right": mask[y0:y1, x1 - 1], "top": mask[y0, x0:x1],
                 "bottom": mask[y1 - 1, x0:x1]}
        touching = [s for s, line in sides.items() if line.mean() > EDGE_TOUCH]
        labels, n = ndi.label(mask)
        sizes = ndi.sum_labels(mask, labels, range(1, n + 1)) if n else np.zeros(0)
        fragments = int((sizes >= 0.1 * sizes.max()).sum()) if n else 0
        fill = area / area_box
        solidity = area / max(_hull_area(mask), 1)
        proposal, action = None, None
        if touching and prompt.box is not None:
            issues.append(f"mask touches the box edge ({', '.join(touching)})")
            severity += 1.0
            proposal, action = replace(prompt, box=widen_box(window, LOOSEN, mask.shape, touching)), \
                f"loosen the box on the {', '.join(touching)}"
        if fragments > 1:
            issues.append(f"mask in {fragments} fragments")
            severity += 0.5
        if fill < MIN_FILL:
            issues.append(f"mask fills {fill:.0%} of its box")
            severity += 1.0
            if proposal is None:
                proposal, action = replace(prompt, positive=[*prompt.positive, ((x0 + x1) / 2, (y0 + y1) / 2)]), \
                    "add a point at the box centre"
        if fill > MAX_FILL or solidity < MIN_SOLIDITY:
            issues.append(f"implausible shape (fills {fill:.0%} of the box, solidity {solidity:.2f})")
            severity += 1.0
            if proposal is None and prompt.box is not None:
                corners = [c for c in _corner_points(window) if c not in prompt.negative]
                proposal, action = replace(prompt, negative=[*prompt.negative, *corners]), \
                    "add negative points at the box corners"
        return Review(issues, severity, proposal, action)


def _hull_area(mask: np.ndarray) -> float:
    return float(convex_hull_image(mask).sum()) if mask.any() else 0.0


VISION_PROMPT = (
    "You check a segmentation of '{concept}' in a medical image. The red outline is the mask, the yellow "
    "rectangle the prompt box (pixels x0 y0 x1 y1 = {box}; image {width}x{height}). Reply with JSON only: "
    '{{"verdict": "ok" or "revise", "reason": "...", "actions": [...]}} where each action is one of '
    '{{"action": "loosen_box", "sides": ["left","right","top","bottom"]}}, '
    '{{"action": "tighten_box", "sides": [...]}}, {{"action": "add_point", "x": X, "y": Y}}, '
    '{{"action": "add_negative_point", "x": X, "y": Y}}, {{"action": "rephrase", "concept": "..."}}.'
)


class VisionCritic:
    """Asks a vision-capable model behind an OpenAI-compatible endpoint, shown the overlay PNG.

    Args:
        client: An ``openai.OpenAI`` client.
        model: Model name on that endpoint.
    """

    name = "openai"

    def __init__(self, client: object, model: str) -> None:
        self.client = client
        self.model = model

    def review(self, picture: np.ndarray, instance: Instance2D, concept: str) -> Review:
        prompt = instance.prompt
        window = prompt.window(instance.mask.shape)
        png = io.BytesIO()
        Image.fromarray(overlay_2d(picture, instance.mask, window)).save(png, format="PNG")
        text = VISION_PROMPT.format(concept=concept, box=" ".join(f"{v:.0f}" for v in window),
                                    width=instance.mask.shape[1], height=instance.mask.shape[0])
        url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
        try:
            reply = self.client.chat.completions.create(  # type: ignore[attr-defined]
                model=self.model, temperature=0,
                messages=[{"role": "user", "content": [{"type": "text", "text": text},
                                                       {"type": "image_url", "image_url": {"url": url}}]}])
            content = reply.choices[0].message.content or ""
        except Exception as exc:  # any transport or server failure ends the loop, it does not crash it
            raise VoxelPromptError(f"the vision critic at the endpoint failed: {exc}",
                                   "check --llm-url and --llm-model, or use --critic rules") from exc
        return parse_vision_reply(content, prompt, window, instance.mask.shape)


def parse_vision_reply(content: str, prompt: PromptSpec, window: tuple[float, float, float, float],
                       shape: tuple[int, int]) -> Review:
    """Turn the model's JSON reply into a review; an unreadable reply proposes nothing."""
    found = re.search(r"\{.*\}", content, re.S)
    try:
        data = json.loads(found.group(0)) if found else {}
    except json.JSONDecodeError:
        data = {}
    if not isinstance(data, dict) or data.get("verdict") not in ("ok", "revise"):
        return Review(["the vision critic's reply was not understood"], 0.0, None, None)
    if data["verdict"] == "ok":
        return Review([], 0.0, None, None)
    new, done, concept = prompt, [], None
    for act in data.get("actions") or []:
        kind = act.get("action") if isinstance(act, dict) else None
        sides = [s for s in act.get("sides", ["left", "right", "top", "bottom"]) if s in ("left", "right", "top",
                                                                                        "bottom")] if kind else []
        if kind in ("loosen_box", "tighten_box") and sides:
            new = replace(new, box=widen_box(new.window(shape), 0.15 if kind == "loosen_box" else -0.1, shape, sides))
        elif kind in ("add_point", "add_negative_point") and _is_xy(act, shape):
            point = (float(act["x"]), float(act["y"]))
            new = replace(new, positive=[*new.positive, point]) if kind == "add_point" else \
                replace(new, negative=[*new.negative, point])
        elif kind == "rephrase" and isinstance(act.get("concept"), str):
            concept = act["concept"]
        else:
            continue
        done.append(kind.replace("_", " "))
    reason = str(data.get("reason") or "the vision critic asked for a revision")
    return Review([reason], 1.0, new if done and new != prompt else None, "; ".join(done) or None, concept)


def _is_xy(act: dict, shape: tuple[int, int]) -> bool:
    try:
        return 0 <= float(act["x"]) < shape[1] and 0 <= float(act["y"]) < shape[0]
    except (KeyError, TypeError, ValueError):
        return False
