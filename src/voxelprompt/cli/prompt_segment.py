"""``voxelprompt segment`` with a box or points: pictures, frame sequences and volumes as slices.

For a single picture the mask is a PNG of the picture's size (0/255) with an instance label PNG
beside it; for frames and volumes the masks are NIfTI files on the input grid. Every instance is
measured (area, perimeter, longest diameter, perpendicular width, circularity), in mm when the
input has a pixel spacing and in pixels otherwise. Each connected component of a prompt's mask is
an instance; its score is the segmenter's quality estimate times the mean probability inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxelprompt.errors import InputFileError, VoxelPromptError


@dataclass
class PromptOptions:
    """What the user gave on the command line."""

    box: tuple[float, float, float, float] | None
    point: tuple[float, float] | None
    negative: bool
    prompts_file: Path | None
    frame: int | None
    pixels: bool
    propagate: bool
    rounds: int
    critic: str
    llm_url: str | None
    llm_model: str | None
    segmenter: str
    weights: Path | None
    checkpoint: Path | None


def _prompts(opts: PromptOptions, volume, frame: int):
    from voxelprompt.engines.prompt2d import prompts_from_json, prompts_in_world_mm, world_box_to_pixels
    from voxelprompt.vision.predict2d import PromptSpec

    if opts.prompts_file is not None:
        try:
            raw = json.loads(opts.prompts_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputFileError(f"cannot read prompts file {opts.prompts_file}: {exc}",
                                 "give a JSON list of prompts") from exc
        return prompts_from_json(raw)
    box, point = opts.box, opts.point
    if not opts.pixels and prompts_in_world_mm(volume):
        if box is not None:
            box = world_box_to_pixels(volume, box, frame)
        if point is not None:
            x0, y0, _, _ = world_box_to_pixels(volume, (*point, *point), frame)
            point = (x0 - 0.5, y0 - 0.5)
    spec = PromptSpec(box)
    if point is not None:
        spec = PromptSpec(box, [] if opts.negative else [point], [point] if opts.negative else [])
    if spec.box is None and not spec.positive:
        raise VoxelPromptError("a box or a positive point is needed to segment a picture: text alone does not "
                               "find lesions reliably", "add --box X0 Y0 X1 Y1 (pixels) or --point X Y")
    return [spec]


def _critic(opts: PromptOptions):
    from voxelprompt.agent.critic2d import RulesCritic, VisionCritic

    if opts.critic == "rules":
        return RulesCritic()
    if opts.critic == "openai":
        if not opts.llm_url or not opts.llm_model:
            raise VoxelPromptError("the openai critic needs --llm-url and --llm-model",
                                   "give both, or use --critic rules")
        import os

        from openai import OpenAI

        return VisionCritic(OpenAI(base_url=opts.llm_url, api_key=os.environ.get("OPENAI_API_KEY", "none")),
                            opts.llm_model)
    raise VoxelPromptError(f"no critic called '{opts.critic}'", "choose rules or openai")


def _measure(mask_2d: np.ndarray, volume, frame: int) -> dict[str, Any]:
    from voxelprompt.measure.shape import planar_shape
    from voxelprompt.volume.geometry import crop

    grid = crop(volume, (0, 0, frame), (volume.shape[0], volume.shape[1], frame + 1))
    values = planar_shape(np.swapaxes(mask_2d, 0, 1)[:, :, None], grid)
    return {q.key: q.json_value() for q in values.values()}


def segment_prompted(volume, source: str, concept: str, output: Path, opts: PromptOptions) -> dict[str, Any]:
    """Segment ``concept`` in the picture (or a frame of) ``volume``, read from ``source``; write masks and an
    overlay."""
    from voxelprompt.agent.refine2d import refine
    from voxelprompt.concepts import default_matcher
    from voxelprompt.engines.finetuned import finetuned_weights
    from voxelprompt.engines.prompt2d import check_prompt, frame_picture, make_segmenter
    from voxelprompt.report.figures import save_overlay_2d
    from voxelprompt.vision.classical import mask_box
    from voxelprompt.vision.propagate import propagate
    from voxelprompt.vision.samples2d import instances as instances_of
    from voxelprompt.volume import save_mask

    if output.exists() and not output.is_dir():
        raise VoxelPromptError(f"--output {output} is a file", "give a folder for the masks")
    n_frames = volume.shape[2]
    if volume.array.ndim == 4 and volume.metadata.channel_names is None:
        raise VoxelPromptError(f"{source} holds {volume.array.shape[3]} volumes",
                               "prompt one volume at a time (split the 4D file first)")
    frame = opts.frame if opts.frame is not None else n_frames // 2
    picture = frame_picture(volume, frame)
    prompts = _prompts(opts, volume, frame)
    for spec in prompts:
        check_prompt(spec, picture.shape[:2])
    match = default_matcher().match(concept)
    matched = match.ref.name if match.status == "matched" and match.ref is not None else None
    weights = opts.weights
    if weights is None and opts.segmenter == "boxprompt":
        weights = finetuned_weights(concept, matched)
    segmenter = make_segmenter(opts.segmenter, weights=weights, checkpoint=opts.checkpoint)
    critic = _critic(opts)

    refined = [refine(segmenter, picture, spec, concept, critic=critic, max_rounds=opts.rounds) for spec in prompts]
    per_frame: dict[int, list] = {frame: [r.instance for r in refined]}
    if opts.propagate and n_frames > 1:
        for r in refined:
            track = propagate(lambda pic, p: segmenter.segment(pic, [p])[0], lambda k: frame_picture(volume, k),
                              n_frames, frame, r.instance)
            for k, inst in track.items():
                if k != frame:
                    per_frame.setdefault(k, []).append(inst)

    output.mkdir(parents=True, exist_ok=True)
    name = (matched or concept).replace(" ", "_").replace("/", "-")
    labels = np.zeros(volume.shape[:3], np.uint16)
    instances = []
    for k in sorted(per_frame):
        for prompt_index, inst in enumerate(per_frame[k]):
            for component in instances_of(inst.mask):
                label = len(instances) + 1
                labels[:, :, k][np.swapaxes(component, 0, 1) & (labels[:, :, k] == 0)] = label
                score = inst.score * float(inst.probability[component].mean())
                instances.append({"id": label, "frame": k, "prompt": prompt_index, "score": round(score, 4),
                                  "bbox_px": list(mask_box(component)), **_measure(component, volume, k)})
    single = n_frames == 1
    suffix = ".png" if single else ".nii.gz"
    mask_file = save_mask(labels > 0, volume, output / f"{name}{suffix}")
    label_file = save_mask(labels.astype(np.uint8) if labels.max() < 256 else labels, volume,
                           output / f"{name}_instances{suffix}") if instances else None
    overlay = save_overlay_2d(picture, [r.instance.mask for r in refined],
                              [r.instance.prompt.window(picture.shape[:2]) for r in refined],
                              output / f"{name}_overlay.png")
    return {
        "concept": concept, "matched": matched, "status": "segmented" if instances else "empty",
        "file": str(mask_file), "instances_file": str(label_file) if label_file else None,
        "overlay": str(overlay), "present": bool(instances), "engine": segmenter.name,
        "weights": segmenter.weights, "frame": frame, "frames_segmented": sorted(per_frame),
        "spacing": "mm" if volume.is_physical else "unknown (lengths in pixels)",
        "instance_count": len(instances), "instances": instances,
        "refinement": [{"critic": critic.name, "rounds": [rd.to_json() for rd in r.rounds], "stopped": r.stopped,
                        "concept": r.concept} for r in refined],
        "note": None if matched else f"'{concept}' is not in the vocabulary; segmented from the prompt alone",
    }
