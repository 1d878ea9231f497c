"""Scoring box-prompted 2D segmentation: synthetic ultrasound-like scenes and user datasets.

Scores follow the MedSAM protocol: Dice, and the normalised surface Dice (NSD) at a boundary
tolerance, per class. On synthetic scenes the prompt box is the scene's own (the lesion's bounding
box with a random margin); on datasets it is each instance's bounding box with a random margin of
up to ``DATASET_BOX_MARGIN`` of its size, drawn from a fixed seed so every method sees the same
boxes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from voxelprompt.agent.refine2d import refine
from voxelprompt.measure.overlap import dice, normalized_surface_dice
from voxelprompt.vision.classical import mask_box, pad_box
from voxelprompt.vision.predict2d import PromptSpec
from voxelprompt.vision.samples2d import instances
from voxelprompt.vision.scenes2d import ultrasound_scene
from voxelprompt.volume import Volume

NSD_TOLERANCE_PX = 2.0
DATASET_BOX_MARGIN = 0.1


def _grid(shape: tuple[int, int]) -> Volume:
    return Volume(np.zeros((shape[1], shape[0], 1), np.uint8), np.eye(4))


def score_masks(pred: np.ndarray, truth: np.ndarray, tolerance_px: float = NSD_TOLERANCE_PX) -> dict[str, float]:
    """Dice and NSD (at ``tolerance_px``) of two (rows, cols) masks."""
    p, t = np.swapaxes(pred, 0, 1)[:, :, None], np.swapaxes(truth, 0, 1)[:, :, None]
    d = float(dice(p, t).value)
    if not p.any() or not t.any():
        return {"dice": d, "nsd": float(p.any() == t.any())}
    return {"dice": d, "nsd": float(normalized_surface_dice(p, t, _grid(pred.shape), tolerance_mm=tolerance_px).value)}


def _summary(rows: list[dict[str, float]], key: str) -> dict[str, float]:
    values = np.array([r[key] for r in rows], float)
    return {"mean": float(values.mean()), "median": float(np.median(values)), "p10": float(np.percentile(values, 10)),
            "min": float(values.min())}


def evaluate_scenes(segmenters: dict[str, Any], seeds: Sequence[int], *, rounds: int = 3,
                    max_box_margin: float = 0.12, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Score each segmenter on the synthetic scenes of ``seeds``: first round and after refinement.

    Returns:
        ``{"scenes", "methods": {name: {"first_round": {dice, nsd summaries}, "refined": {...},
        "refined_minus_first": mean Dice difference, "seconds_per_scene": median}}, "per_scene": [...]}``.
    """
    per_scene: list[dict[str, Any]] = []
    results: dict[str, dict[str, list]] = {n: {"first": [], "refined": [], "seconds": []} for n in segmenters}
    for n, seed in enumerate(seeds):
        scene = ultrasound_scene(seed, max_box_margin=max_box_margin)
        row: dict[str, Any] = {"seed": seed, "polarity": scene.polarity}
        for name, segmenter in segmenters.items():
            start = time.perf_counter()
            out = refine(segmenter, scene.image, PromptSpec(tuple(map(float, scene.box))), "lesion", max_rounds=rounds)
            results[name]["seconds"].append(time.perf_counter() - start)
            first, final = score_masks(out.first.mask, scene.mask), score_masks(out.instance.mask, scene.mask)
            results[name]["first"].append(first)
            results[name]["refined"].append(final)
            row[name] = {"first_dice": round(first["dice"], 4), "refined_dice": round(final["dice"], 4),
                         "rounds": len(out.rounds), "stopped": out.stopped}
        per_scene.append(row)
        if progress:
            progress(n)
    methods = {}
    for name, res in results.items():
        methods[name] = {
            "first_round": {"dice": _summary(res["first"], "dice"), "nsd": _summary(res["first"], "nsd")},
            "refined": {"dice": _summary(res["refined"], "dice"), "nsd": _summary(res["refined"], "nsd")},
            "refined_minus_first": float(np.mean([b["dice"] - a["dice"]
                                                  for a, b in zip(res["first"], res["refined"])])),
            "seconds_per_scene": float(np.median(res["seconds"])),
        }
    return {"scenes": len(seeds), "seeds": [int(seeds[0]), int(seeds[-1])], "nsd_tolerance_px": NSD_TOLERANCE_PX,
            "rounds": rounds, "max_box_margin": max_box_margin, "methods": methods, "per_scene": per_scene}


def dataset_prompts(mask: np.ndarray, seed: int) -> list[tuple[PromptSpec, np.ndarray]]:
    """One box prompt per instance of ``mask``, with a reproducible random margin."""
    rng = np.random.default_rng(seed)
    out = []
    for inst in instances(mask):
        box = mask_box(inst)
        w, h = box[2] - box[0], box[3] - box[1]
        margins = rng.uniform(0, DATASET_BOX_MARGIN, 4) * np.array([w, h, w, h])
        out.append((PromptSpec(pad_box(box, margins, mask.shape)), inst))
    return out


def evaluate_pairs(segmenter: Any, pairs: Sequence[tuple[np.ndarray, np.ndarray]], concept: str,
                   *, tolerance_px: float = NSD_TOLERANCE_PX) -> dict[str, Any]:
    """Dice and NSD per image (all instances together) of a segmenter on image and mask pairs."""
    rows = []
    for n, (picture, mask) in enumerate(pairs):
        truth = np.asarray(mask) > 0
        prompts = dataset_prompts(truth, n)
        if not prompts:
            continue
        found = segmenter.segment(picture, [p for p, _ in prompts])
        pred = np.any([f.mask for f in found], axis=0)
        rows.append(score_masks(pred, truth, tolerance_px))
    if not rows:
        return {"class": concept, "images": 0}
    return {"class": concept, "images": len(rows), "nsd_tolerance_px": tolerance_px,
            "dice": _summary(rows, "dice"), "nsd": _summary(rows, "nsd")}
