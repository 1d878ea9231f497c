"""CLI commands of the prompted 2D segmenter: train, finetune, eval-2d."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from voxelprompt.cli.main import JsonOpt, _parse_seeds, app
from voxelprompt.cli.output import print_json, print_table, stderr, stdout
from voxelprompt.errors import VoxelPromptError

MAX_SIDE_PX = 1024  # fine-tuning and its evaluation downscale larger pictures (ISIC photos run to 6000 px)


def _bar(label: str):
    """A rich progress bar on stderr (shown on terminals only) and its update callback."""
    from rich.progress import Progress

    progress = Progress(console=stderr, transient=True, disable=not stderr.is_terminal)
    task = progress.add_task(label, total=None)

    def update(step: int, total: int, loss: float | None = None) -> None:
        text = label if loss is None else f"{label} loss {loss:.3f}"
        progress.update(task, completed=step, total=total, description=text)

    return progress, update


@app.command()
def train(
    config: Path = typer.Argument(..., help="Training config (JSON): configs/textnet3d.json (3D network, "
                                  "\"model\": \"text3d\") or configs/boxprompt2d.json (2D box segmenter)."),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder: config, checkpoint, log, weights."),
) -> None:
    """Train a network on synthetic data (resumes from the run folder's checkpoint; uses a CUDA GPU if present)."""
    from voxelprompt.vision.train2d import TrainConfig, device, read_config, train_box_net

    raw = read_config(config)
    if output.exists() and not output.is_dir():
        raise VoxelPromptError(f"--output {output} is a file", "give a folder for the run")
    model = raw.pop("model", "boxprompt2d")
    if model not in ("boxprompt2d", "text3d"):
        raise VoxelPromptError(f"unknown model '{model}' in {config}", 'use "text3d" or "boxprompt2d"')
    from voxelprompt.vision.train3d import Train3DConfig, train_text_net

    cfg = Train3DConfig.from_dict(raw, str(config)) if model == "text3d" else TrainConfig.from_dict(raw, str(config))
    progress, update = _bar("training")
    stderr.print(f"training {model} on {device()}; checkpoints in {output}", highlight=False)
    with progress:
        if isinstance(cfg, Train3DConfig):
            weights = train_text_net(cfg, output, progress=update)
        else:
            weights = train_box_net(cfg, output, progress=update)
    stdout.print(f"weights written to {weights}", highlight=False)


@app.command()
def finetune(
    images: Path = typer.Option(..., "--images", help="Folder of pictures (or a BUSI-style folder with masks)."),
    labels: Path | None = typer.Option(None, "--labels", help="Folder of masks named like the pictures."),
    concept: str = typer.Option(..., "--concept", "-c", help="What the masks show, in words (e.g. 'polyp')."),
    output: Path = typer.Option(..., "--output", "-o", help="Weights file to write (.safetensors)."),
    steps: int = typer.Option(300, "--steps", min=1, help="Optimiser steps."),
    holdout: float = typer.Option(0.2, "--holdout", min=0.0, max=0.9, help="Fraction of pairs held out."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the training."),
    register: bool = typer.Option(True, "--register/--no-register",
                                  help="Use these weights for --concept in later `segment` calls."),
    as_json: bool = JsonOpt,
) -> None:
    """Adapt a network's decoder to your labelled images (encoder frozen) and score it.

    Pictures (PNG, JPEG...) adapt the 2D box segmenter; volumes (NIfTI, MGZ, NRRD) with masks in
    --labels teach the 3D network a new concept, which later `segment --concept TEXT` calls find.
    Pairs are split into training and held-out sets (--holdout); the held-out pairs are scored
    before and after (Dice; for pictures also NSD at 2 px, per class). Pictures with a side longer
    than 1024 px are downscaled first.
    """
    from voxelprompt.cli.finetune3d import finetune_volumes, has_volumes
    from voxelprompt.engines.finetuned import register_finetuned
    from voxelprompt.evaluation.prompt2d import evaluate_pairs
    from voxelprompt.files import full_suffix
    from voxelprompt.vision.datasets2d import find_pairs, split_pairs
    from voxelprompt.vision.predict2d import BoxSegmenter
    from voxelprompt.vision.train2d import finetune_box_net

    if full_suffix(output) != ".safetensors":
        raise VoxelPromptError(f"--output {output} must end in .safetensors", "name the weights file NAME.safetensors")
    if has_volumes(images):
        progress, update = _bar("fine-tuning")
        with progress:
            report = finetune_volumes(images, labels, concept, output, steps=steps, holdout=holdout, seed=seed,
                                      register=register, progress=update)
        if as_json:
            print_json(report)
            return
        print_table("held-out volumes", ["image", "Dice before", "Dice after"],
                    [[h["image"], h["dice_before"], h["dice_after"]] for h in report["heldout"]])
        stdout.print(f"weights written to {output}", highlight=False)
        return
    pairs = find_pairs(images, labels, concept=concept)
    train_pairs, held = split_pairs(pairs, holdout, seed)
    loaded = [p.load(MAX_SIDE_PX) for p in train_pairs]
    held_loaded = {}
    for p in held:
        held_loaded.setdefault(p.label, []).append(p.load(MAX_SIDE_PX))
    before = {c: evaluate_pairs(BoxSegmenter(), v, c) for c, v in held_loaded.items()}
    progress, update = _bar("fine-tuning")
    with progress:
        finetune_box_net(loaded, output, steps=steps, seed=seed, progress=update)
    tuned = BoxSegmenter(output)
    after = {c: evaluate_pairs(tuned, v, c) for c, v in held_loaded.items()}
    report = {"concept": concept, "weights": str(output), "pairs": len(pairs), "train_pairs": len(train_pairs),
              "heldout_pairs": len(held), "steps": steps, "frozen": "encoder",
              "heldout_before": before, "heldout_after": after,
              "registered": register_finetuned(concept, output) if register else None}
    output.with_suffix(".json").write_text(json.dumps(report, indent=2))
    if as_json:
        print_json(report)
        return
    print_table("held-out pairs (MedSAM protocol)", ["class", "images", "Dice before", "Dice after", "NSD after"],
                [[c, after[c]["images"], before[c]["dice"]["mean"], after[c]["dice"]["mean"], after[c]["nsd"]["mean"]]
                 for c in after if after[c]["images"]])
    stdout.print(f"weights written to {output}", highlight=False)


@app.command(name="eval-2d")
def eval_2d(
    seeds: str = typer.Option("5000-5199", help="Scene seeds: '5000-5199' or '3,7,9'."),
    segmenter: list[str] | None = typer.Option(None, "--segmenter", help="Segmenters (default: boxprompt, otsu)."),
    rounds: int = typer.Option(3, "--rounds", min=1, max=10, help="Refinement rounds in all."),
    box_margin: float = typer.Option(0.12, "--box-margin", min=-0.3, max=1.0,
                                     help="Largest random margin of the prompt boxes, as a fraction of the "
                                          "lesion (negative: boxes that cut it)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Also write the report as JSON."),
    as_json: bool = JsonOpt,
) -> None:
    """Score box-prompted segmentation on synthetic ultrasound-like scenes: Dice and NSD, first round and refined."""
    from voxelprompt.engines.prompt2d import make_segmenter
    from voxelprompt.evaluation.prompt2d import evaluate_scenes
    from voxelprompt.report import write_json

    seed_list = _parse_seeds(seeds)
    chosen = {name: make_segmenter(name) for name in (segmenter or ["boxprompt", "otsu"])}
    progress, update = _bar("scenes")
    with progress:
        report = evaluate_scenes(chosen, seed_list, rounds=rounds, max_box_margin=box_margin,
                                 progress=lambda n: update(n + 1, len(seed_list)))
    if output is not None:
        write_json(report, output)
    if as_json:
        print_json(report)
        return
    print_table(f"{report['scenes']} scenes", ["segmenter", "Dice first round", "Dice refined", "NSD refined",
                                               "refined - first", "s per scene"],
                [[n, m["first_round"]["dice"]["mean"], m["refined"]["dice"]["mean"], m["refined"]["nsd"]["mean"],
                  m["refined_minus_first"], m["seconds_per_scene"]] for n, m in report["methods"].items()])
