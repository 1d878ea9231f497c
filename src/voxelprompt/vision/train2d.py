"""Training and fine-tuning the box-prompted segmenter.

``train_box_net`` learns from synthetic ultrasound-like scenes (reproducible from a config and a
seed, resumable from its checkpoint); ``finetune_box_net`` adapts the decoder to a user's image and
mask pairs with the encoder frozen, the MedSAM recipe. Both run on a CUDA GPU when one is present
and on the CPU otherwise.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from voxelprompt.errors import InputFileError
from voxelprompt.vision.boxnet import BoxPromptNet
from voxelprompt.vision.samples2d import instances, luminance, training_sample
from voxelprompt.vision.scenes2d import ultrasound_scene
from voxelprompt.vision.weights import load_weights, save_weights

log = logging.getLogger(__name__)
Progress = Callable[[int, int, float], None]


@dataclass
class TrainConfig:
    """What a training run needs; saved next to its checkpoints.

    Attributes:
        seed: Seed of the scenes, the sampling and the initial weights.
        steps: Optimiser steps.
        batch_size: Samples per step.
        learning_rate: Peak AdamW learning rate (cosine decay to 2 %).
        scenes: Distinct synthetic scenes drawn once (seeds ``seed * 10**6 + i``).
        checkpoint_every: Steps between checkpoints.
    """

    seed: int = 1
    steps: int = 3000
    batch_size: int = 16
    learning_rate: float = 2e-3
    scenes: int = 2500
    checkpoint_every: int = 250

    @classmethod
    def from_file(cls, path: Path) -> TrainConfig:
        """Read a JSON config; unknown keys are an error."""
        raw = read_config(path)
        if raw.pop("model", "boxprompt2d") != "boxprompt2d":
            raise InputFileError(f"{path} is not a config for the 2D box segmenter", 'set "model": "boxprompt2d"')
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> TrainConfig:
        return config_from_dict(cls, raw, source)


def config_from_dict(cls, raw: dict, source: str):
    """``cls(**raw)`` for a config dataclass; unknown keys are an error."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputFileError(f"unknown keys in {source}: {', '.join(unknown)}", f"use only: {', '.join(sorted(known))}")
    return cls(**raw)


def read_config(path: Path) -> dict:
    """A training config file's JSON object."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"cannot read training config {path}: {exc}", "give a JSON file") from exc
    if not isinstance(raw, dict):
        raise InputFileError(f"training config {path} is not a JSON object", 'write it as {"seed": 1, ...}')
    return raw


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy + soft Dice on the mask, and MSE of the predicted Dice."""
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(1, 2, 3))
    soft_dice = (2 * inter + 1) / (prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)
    with torch.no_grad():
        hard = (prob > 0.5).float()
        true_dice = (2 * (hard * (target > 0.5)).sum(dim=(1, 2, 3)) + 1) / (
            hard.sum(dim=(1, 2, 3)) + (target > 0.5).sum(dim=(1, 2, 3)) + 1)
    return (F.binary_cross_entropy_with_logits(logits, target) + (1 - soft_dice).mean()
            + F.mse_loss(torch.sigmoid(quality), true_dice))


def _batches(pairs: Sequence[tuple[np.ndarray, np.ndarray]], batch_size: int, rng: np.random.Generator):
    while True:
        xs, ys = [], []
        for i in rng.integers(0, len(pairs), batch_size):
            image, mask = pairs[i]
            x, y = training_sample(image, mask, rng)
            xs.append(x)
            ys.append(y)
        yield torch.stack(xs), torch.stack(ys)


def _fit(net: BoxPromptNet, params: list[torch.nn.Parameter], pairs: Sequence[tuple[np.ndarray, np.ndarray]],
         *, steps: int, batch_size: int, learning_rate: float, seed: int, start: int = 0,
         optimiser_state: dict | None = None, checkpoint: Callable[[int, dict], None] | None = None,
         checkpoint_every: int = 0, progress: Progress | None = None) -> list[float]:
    dev = device()
    net.to(dev).train()
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=1e-4)
    if optimiser_state:  # the schedule is rebuilt for ``steps``, so a resumed run may also run longer
        opt.load_state_dict(optimiser_state["optimiser"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=learning_rate, total_steps=steps, pct_start=0.05,
                                                final_div_factor=50, last_epoch=start - 1 if optimiser_state else -1)
    rng = np.random.default_rng([seed, start])
    losses = []
    batches = _batches(pairs, batch_size, rng)
    for step in range(start, steps):
        x, y = next(batches)
        logits, quality = net(x.to(dev))
        loss = segmentation_loss(logits, y.to(dev), quality)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress:
            progress(step + 1, steps, float(np.mean(losses[-50:])))
        if checkpoint and checkpoint_every and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
            checkpoint(step + 1, {"optimiser": opt.state_dict()})
    net.eval()
    return losses


def synthetic_pairs(config: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """The training scenes of a config (seeds ``seed * 10**6 + i``, never the evaluation seeds)."""
    out = []
    for i in range(config.scenes):
        scene = ultrasound_scene(config.seed * 10**6 + i)
        out.append((scene.image.astype(np.float32), scene.mask))
    return out


def train_box_net(config: TrainConfig, out_dir: Path, *, progress: Progress | None = None) -> Path:
    """Train from scratch (or resume from ``out_dir/checkpoint.pt``); write ``boxprompt2d.safetensors``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    torch.manual_seed(config.seed)
    net = BoxPromptNet()
    ckpt_path = out_dir / "checkpoint.pt"
    start, state = 0, None
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        net.load_state_dict(ckpt["model"])
        start, state = ckpt["step"], ckpt["state"]
        log.info("resuming at step %d", start)
    t0 = time.time()
    pairs = synthetic_pairs(config)
    log.info("drew %d scenes in %.0f s", len(pairs), time.time() - t0)
    log_file = (out_dir / "train.log").open("a")

    def checkpoint(step: int, opt_state: dict) -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": net.state_dict(), "step": step, "state": opt_state}, tmp)
        tmp.replace(ckpt_path)
        log_file.write(json.dumps({"step": step, "seconds": round(time.time() - t0, 1)}) + "\n")
        log_file.flush()

    def report(step: int, total: int, loss: float) -> None:
        if step % 50 == 0:
            log_file.write(json.dumps({"step": step, "loss": round(loss, 4)}) + "\n")
        if progress:
            progress(step, total, loss)

    _fit(net, list(net.parameters()), pairs, steps=config.steps, batch_size=config.batch_size,
         learning_rate=config.learning_rate, seed=config.seed, start=start, optimiser_state=state,
         checkpoint=checkpoint, checkpoint_every=config.checkpoint_every, progress=report)
    log_file.close()
    return save_weights(net.cpu(), out_dir / "boxprompt2d.safetensors",
                        {"trained_on": f"{config.scenes} synthetic ultrasound-like scenes", "seed": str(config.seed),
                         "steps": str(config.steps)})


def finetune_box_net(pairs: Sequence[tuple[np.ndarray, np.ndarray]], out_path: Path, *, steps: int = 300,
                     batch_size: int = 16, learning_rate: float = 1e-3, seed: int = 0,
                     start_from: Path | None = None, progress: Progress | None = None) -> Path:
    """Adapt the decoder to ``(image, mask)`` pairs with the encoder frozen.

    Args:
        pairs: Pictures ((rows, cols) or (rows, cols, 3)) and their masks; every connected component
            of a mask is an instance.
        out_path: Where to write the adapted weights (safetensors).
        steps, batch_size, learning_rate, seed: Optimisation settings.
        start_from: Weights to start from (default: the shipped ones).
        progress: Called with (step, steps, running loss).

    Returns:
        ``out_path``.
    """
    items = [(luminance(img), inst) for img, mask in pairs for inst in instances(np.asarray(mask) > 0)]
    if not items:
        raise InputFileError("the training pairs hold no foreground pixels", "check that the masks are not empty")
    torch.manual_seed(seed)
    net = load_weights(start_from)
    for p in net.encoder.parameters():
        p.requires_grad_(False)
    _fit(net, list(net.decoder.parameters()), items, steps=steps, batch_size=batch_size,
         learning_rate=learning_rate, seed=seed, progress=progress)
    return save_weights(net.cpu(), out_path, {"finetuned_on": f"{len(items)} instances", "steps": str(steps),
                                              "frozen": "encoder"})
