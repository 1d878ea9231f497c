"""Box/point-prompted segmentation of 2D pictures with the embedded network (or the classical baseline).

A prompt is a box ``(x0, y0, x1, y1)`` in pixel edges and/or points ``(x, y)``. For a point-only
prompt the network is given a box estimated around the first point (its smoothed-Otsu component
inside a square of ``POINT_WINDOW`` of the picture's shorter side), since it was trained with boxes. Each
prompt gives one instance: the component of the thresholded probability that overlaps the prompt,
holes filled, with the network's own estimate of its Dice as the score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi

from voxelprompt.errors import VoxelPromptError
from voxelprompt.vision.boxnet import BoxPromptNet, network_input, paste, roi_for
from voxelprompt.vision.classical import box_from_point, box_separability, clip_box, otsu_in_box, widen_box
from voxelprompt.vision.samples2d import luminance
from voxelprompt.vision.weights import load_weights, shipped_net

POINT_WINDOW = 0.3
WIDER_BOX = 0.08
Point = tuple[float, float]


@dataclass
class PromptSpec:
    """One instance prompt on a picture: a box and/or points, in pixels."""

    box: tuple[float, float, float, float] | None = None
    positive: list[Point] = field(default_factory=list)
    negative: list[Point] = field(default_factory=list)

    def window(self, shape: tuple[int, int]) -> tuple[float, float, float, float]:
        """The box, or a square around the positive points when there is none; inside the picture."""
        if self.box is not None:
            return tuple(float(v) for v in clip_box(self.box, shape))  # type: ignore[return-value]
        if not self.positive:
            raise VoxelPromptError("a prompt needs a box or at least one positive point",
                                   "add --box X0 Y0 X1 Y1 or --point X Y")
        half = POINT_WINDOW * min(shape) / 2
        xs, ys = [p[0] for p in self.positive], [p[1] for p in self.positive]
        square = clip_box((min(xs) - half, min(ys) - half, max(xs) + half, max(ys) + half), shape)
        return tuple(float(v) for v in square)  # type: ignore[return-value]


@dataclass
class Instance2D:
    """One segmented instance.

    Attributes:
        mask: (rows, cols) bool.
        probability: (rows, cols) float32 in [0, 1] (zero outside the prompt's region).
        score: Estimated quality in [0, 1].
        prompt: The prompt that produced it.
        window: The box the segmenter used (the prompt's box, widened, or estimated around a point).
    """

    mask: np.ndarray
    probability: np.ndarray
    score: float
    prompt: PromptSpec
    window: tuple[float, float, float, float] | None = None

    def used_window(self) -> tuple[float, float, float, float]:
        """The box the segmenter used, or the prompt's own window."""
        return self.window if self.window is not None else self.prompt.window(self.mask.shape)


def _keep_prompted(mask: np.ndarray, prompt: PromptSpec, window: tuple[float, float, float, float]) -> np.ndarray:
    """Components that hold a positive point or overlap the box's central half; holes filled."""
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    keep = set()
    for x, y in prompt.positive:
        lab = labels[int(np.clip(y, 0, mask.shape[0] - 1)), int(np.clip(x, 0, mask.shape[1] - 1))]
        if lab:
            keep.add(int(lab))
    x0, y0, x1, y1 = window
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 4, 1), max((y1 - y0) / 4, 1)
    core = labels[int(max(cy - hh, 0)): int(cy + hh) + 1, int(max(cx - hw, 0)): int(cx + hw) + 1]
    keep.update(int(v) for v in np.unique(core) if v)
    if not keep:
        sizes = ndi.sum_labels(mask, labels, range(1, n + 1))
        keep.add(int(np.argmax(sizes)) + 1)
    return ndi.binary_fill_holes(np.isin(labels, sorted(keep)))


class BoxSegmenter:
    """The embedded segmenter; weights are loaded once and reused for every prompt.

    Args:
        weights: Fine-tuned weights (safetensors); the shipped ones by default.
        threshold: Probability above which a pixel is in the mask.
    """

    name = "boxprompt"

    def __init__(self, weights: Path | None = None, *, threshold: float = 0.5) -> None:
        self.net: BoxPromptNet = load_weights(weights) if weights else shipped_net()
        self.weights = str(weights) if weights else "shipped"
        self.threshold = threshold

    @torch.no_grad()
    def segment(self, picture: np.ndarray, prompts: list[PromptSpec]) -> list[Instance2D]:
        """One instance per prompt on a (rows, cols) or (rows, cols, 3) picture.

        Each box is tried as drawn and widened by ``WIDER_BOX`` of its size on every side; the mask
        with the higher predicted Dice is kept (boxes drawn tight to the object, or cutting it, are
        common; the widened one then wins).
        """
        image = luminance(picture)
        if not prompts:
            return []
        windows = [p.window(image.shape) for p in prompts]  # raises for a prompt without box or positive point
        windows = [w if p.box is not None else box_from_point(image, p.positive[0], w)
                   for p, w in zip(prompts, windows)]
        tries = [(k, w) for k, w in enumerate(windows)] + [(k, widen_box(w, WIDER_BOX, image.shape))
                                                           for k, w in enumerate(windows)]
        rois = [roi_for(w) for _, w in tries]
        batch = torch.stack([network_input(image, roi, w, prompts[k].positive, prompts[k].negative)
                             for (k, w), roi in zip(tries, rois)])
        logits, quality = self.net(batch)
        scores = torch.sigmoid(quality).tolist()
        best: dict[int, int] = {}
        for n, (k, _) in enumerate(tries):
            if k not in best or scores[n] > scores[best[k]]:
                best[k] = n
        out = []
        for k, prompt in enumerate(prompts):
            n = best[k]
            prob = paste(torch.sigmoid(logits[n, 0]), rois[n], image.shape)
            mask = _keep_prompted(prob > self.threshold, prompt, tries[n][1])
            out.append(Instance2D(mask, prob, float(scores[n]), prompt, tuple(float(v) for v in tries[n][1])))
        return out


class OtsuSegmenter:
    """The classical baseline: a smoothed Otsu threshold inside each box; the score is the box's separability."""

    name = "otsu"
    weights = "none"

    def segment(self, picture: np.ndarray, prompts: list[PromptSpec]) -> list[Instance2D]:
        image = luminance(picture)
        out = []
        for prompt in prompts:
            window = prompt.window(image.shape)
            mask = otsu_in_box(image, window)
            score = box_separability(image, window) if mask.any() else 0.0
            out.append(Instance2D(mask, mask.astype(np.float32), score, prompt))
        return out
