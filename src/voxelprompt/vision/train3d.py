"""Training and fine-tuning the language-conditioned 3D network.

``train_text_net`` draws SynthSeg-style volumes (``synth3d``) with a fresh random stream per step,
samples concepts and prompt phrases, and optimises mask (BCE + soft Dice) and presence (BCE)
losses. It is reproducible from its config and seed, resumable from ``checkpoint.pt`` in the run
folder, logs to ``train.log``, and runs on a CUDA GPU when one is present. ``finetune_text_net``
adapts the network to a new concept from a few labelled volumes with the encoder frozen.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from voxelprompt.errors import InputFileError
from voxelprompt.vision.concepts3d import TrainingConcept, training_concepts
from voxelprompt.vision.synth3d import NET_SHAPE, make_sample, present_ids, prior_logits
from voxelprompt.vision.textnet3d import TextConditionedNet3D
from voxelprompt.vision.train2d import config_from_dict, device
from voxelprompt.vision.weights3d import PhraseBank, load_net3d, save_net3d, shipped_weights3d

log = logging.getLogger(__name__)
Progress = Callable[[int, int, float], None]
CORE_MAX_ID = 100  # FreeSurfer aseg ids (subcortical, ventricles, white matter, cerebellum)
DEFAULT_MIX = {"core": 0.5, "composite": 0.2, "path": 0.2, "cortex": 0.1}
MIX_GROUPS = ("core", "composite", "path", "cortex", "lesion")
ANY_LESION = "lesion"  # the union of every pathology label
TRAINED_ON = "synthetic volumes from FreeSurfer cvs_avg35 aparc+aseg and ICBM 2009a"
P_CROP_ON_TARGET = 0.8  # crops centred on a voxel of a present target; the others anywhere


@dataclass
class Train3DConfig:
    """What a 3D training run needs; saved next to its checkpoints.

    Attributes:
        model: Always ``"text3d"`` (tells ``voxelprompt train`` which network a config is for).
        seed: Seed of the sample stream, the concept sampling and the initial weights.
        steps: Optimiser steps (one generated volume each).
        concepts_per_step: Concepts scored on each volume.
        learning_rate: Peak AdamW learning rate (one-cycle schedule).
        deformation_mm: Largest amplitude of the smooth random deformation.
        p_pathology: Fraction of volumes with synthetic pathology.
        p_no_prior: Fraction of concepts trained without their atlas prior (text alone).
        checkpoint_every: Steps between checkpoints.
        init: ``""`` (random), ``"shipped"`` (continue from the package's weights) or a weights path.
        workers: Processes that generate volumes while the network trains.
        concept_mix: Shares of single aseg structures (``core``), composites, pathology (``path``),
            cortical regions and the union concept "lesion" (``lesion``; when it has a share, ``path``
            draws from the other pathology concepts) among each step's concepts.
        p_label_contrast: Fraction of images drawn SynthSeg-style (each label its own intensity)
            rather than from the real T1 under a random contrast.
        crop: ``[]`` trains on the whole network grid; ``[X, Y, Z]`` on a crop of that size (a
            fully convolutional network infers on the whole grid), centred on a target structure
            most of the time: several times faster steps on a CPU.
    """

    model: str = "text3d"
    seed: int = 1
    steps: int = 900
    concepts_per_step: int = 10
    learning_rate: float = 1e-3
    deformation_mm: float = 4.5
    p_pathology: float = 0.5
    p_no_prior: float = 0.1
    checkpoint_every: int = 100
    init: str = ""
    workers: int = 1
    concept_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    crop: list[int] = field(default_factory=list)
    p_label_contrast: float = 0.5

    def __post_init__(self) -> None:
        mix = self.concept_mix
        shares = list(mix.values()) if isinstance(mix, dict) else []
        if (not shares or set(mix) - set(MIX_GROUPS) or not all(isinstance(v, (int, float)) and v >= 0 for v in shares)
                or sum(shares) <= 0):
            raise InputFileError(f"concept_mix {mix} is not valid",
                                 f"give non-negative shares for {', '.join(MIX_GROUPS)}")
        if not isinstance(self.p_label_contrast, (int, float)) or not 0 <= self.p_label_contrast <= 1:
            raise InputFileError(f"p_label_contrast {self.p_label_contrast} is not valid",
                                 "give a fraction from 0 to 1")
        crop = self.crop
        if not isinstance(crop, list) or (crop and (len(crop) != 3 or not all(
                isinstance(c, int) and 8 <= c <= n for c, n in zip(crop, NET_SHAPE)))):
            raise InputFileError(f"crop {self.crop} is not valid",
                                 f"give [] or three sizes from 8 up to {list(NET_SHAPE)}")

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> Train3DConfig:
        return config_from_dict(cls, raw, source)


def trainable_concepts() -> list[TrainingConcept]:
    """Training concepts whose labels occur in the training label map (pathology always)."""
    ids = present_ids()
    return [c for c in training_concepts() if c.kind == "pathology" or any(i in ids for i in c.ids)]


def pick_concepts(rng: np.random.Generator, pool: Sequence[TrainingConcept], n: int,
                  mix: dict[str, float] | None = None) -> list[TrainingConcept]:
    """``n`` distinct concepts: aseg structures, composites, cortical regions and pathology in ``mix``'s shares."""
    mix = mix or DEFAULT_MIX
    own_lesion_share = mix.get("lesion", 0.0) > 0
    groups = {"core": [c for c in pool if c.kind == "anatomy" and max(c.ids) < CORE_MAX_ID],
              "composite": [c for c in pool if c.kind == "composite"],
              "path": [c for c in pool if c.kind == "pathology" and not (own_lesion_share and c.name == ANY_LESION)],
              "cortex": [c for c in pool if c.kind == "anatomy" and max(c.ids) >= CORE_MAX_ID],
              "lesion": [c for c in pool if c.name == ANY_LESION]}
    total = sum(mix.values())
    counts = {g: int(n * mix.get(g, 0.0) / total) for g in groups}
    for g in sorted(groups, key=lambda g: -mix.get(g, 0.0)):  # the remainder goes to the largest shares
        if sum(counts.values()) >= n:
            break
        if mix.get(g, 0.0) > 0:
            counts[g] += 1
    out: list[TrainingConcept] = []
    for name, k in counts.items():
        group = groups[name]
        if group and k:
            out += [group[i] for i in rng.choice(len(group), min(k, len(group)), replace=False)]
    return out


def crop_box(rng: np.random.Generator, targets: torch.Tensor, size: Sequence[int]) -> tuple[slice, ...]:
    """A crop of ``size`` inside the grid, centred on a random voxel of a random present target (mostly)."""
    shape = targets.shape[1:]
    present = [t for t in targets if (t > 0.5).any()]
    if present and rng.random() < P_CROP_ON_TARGET:
        voxels = torch.nonzero(present[rng.integers(len(present))] > 0.5)
        centre = voxels[rng.integers(len(voxels))].numpy()
    else:
        centre = np.array([rng.integers(n) for n in shape])
    lo = [int(np.clip(c - s // 2, 0, n - s)) for c, s, n in zip(centre, size, shape)]
    return tuple(slice(a, a + s) for a, s in zip(lo, size))


SCALAR_LR_FACTOR = 20.0  # the temperature and prior weight are single numbers: let them move faster


def param_groups(net: TextConditionedNet3D, params: list[torch.nn.Parameter], lr: float) -> list[dict]:
    """``params`` as optimiser groups, the network's scalar parameters with a higher learning rate."""
    scalars = {id(p) for p in net.scalar_parameters()}
    return [{"params": [p for p in params if id(p) not in scalars], "lr": lr},
            {"params": [p for p in params if id(p) in scalars], "lr": lr * SCALAR_LR_FACTOR, "weight_decay": 0.0}]


def mask_loss(logits: torch.Tensor, presence: torch.Tensor, targets: torch.Tensor,
              present: torch.Tensor) -> torch.Tensor:
    """BCE + soft Dice (present concepts) on the masks, BCE on presence. Shapes (N, ...), (N,)."""
    prob = torch.sigmoid(logits)
    dims = tuple(range(1, logits.dim()))
    inter = (prob * targets).sum(dims)
    dice = (2 * inter + 1) / (prob.sum(dims) + targets.sum(dims) + 1)
    dice_loss = ((1 - dice) * present).sum() / present.sum().clamp_min(1)
    bce = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=torch.tensor(3.0, device=logits.device))
    return bce + dice_loss + 0.3 * F.binary_cross_entropy_with_logits(presence, present)


class SampleStream(torch.utils.data.IterableDataset):
    """Generated volumes for steps ``start..steps`` (each step has its own seed, so runs resume exactly)."""

    def __init__(self, config: Train3DConfig, start: int, pool: list[TrainingConcept]) -> None:
        self.config, self.start, self.pool = config, start, pool

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        k, n = (info.id, info.num_workers) if info else (0, 1)
        if info:
            torch.set_num_threads(1)
        for step in range(self.start + k, self.config.steps, n):
            rng = np.random.default_rng([self.config.seed, step])
            concepts = pick_concepts(rng, self.pool, self.config.concepts_per_step, self.config.concept_mix)
            if rng.random() < 0.1:
                concepts = concepts[:1]
            s = make_sample(rng, concepts, deformation_mm=self.config.deformation_mm,
                            p_pathology=self.config.p_pathology, p_label_contrast=self.config.p_label_contrast)
            inputs, targets, present = s.inputs, s.targets, s.present
            box = tuple(slice(0, n) for n in NET_SHAPE)
            if self.config.crop:
                box = crop_box(rng, targets, self.config.crop)
                inputs, targets = inputs[(slice(None), *box)], targets[(slice(None), *box)]
                present = ((targets > 0.5).flatten(1).sum(1) >= 3).float()
            yield (step, inputs, targets, present, [c.name for c in s.concepts], int(rng.integers(2**31)),
                   [(b.start, b.stop) for b in box])


def _load_start(config: Train3DConfig) -> TextConditionedNet3D:
    if config.init == "":
        return TextConditionedNet3D()
    path = shipped_weights3d() if config.init == "shipped" else Path(config.init)
    return load_net3d(path).net.train()


def train_text_net(config: Train3DConfig, out_dir: Path, *, progress: Progress | None = None) -> Path:
    """Train (or resume from ``out_dir/checkpoint.pt``); write ``textnet3d.safetensors`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    torch.manual_seed(config.seed)
    pool = trainable_concepts()
    bank = PhraseBank.for_concepts(pool)
    net = _load_start(config)
    dev = device()
    net.to(dev).train()
    opt = torch.optim.AdamW(param_groups(net, list(net.parameters()), config.learning_rate), weight_decay=1e-4)
    ckpt_path = out_dir / "checkpoint.pt"
    start = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimiser"])
        start = ckpt["step"]
        log.info("resuming at step %d", start)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                                total_steps=config.steps,
                                                pct_start=min(0.3, max(0.05, 3 / config.steps)), final_div_factor=50,
                                                last_epoch=start - 1 if start else -1)
    loader = torch.utils.data.DataLoader(SampleStream(config, start, pool), batch_size=None,
                                         num_workers=config.workers, persistent_workers=False)
    log_file = (out_dir / "train.log").open("a")
    t0, losses = time.time(), []
    by_name = {c.name: c for c in pool}
    for step, inputs, targets, present, names, phrase_seed, box in loader:
        rng = np.random.default_rng(phrase_seed)
        text = bank.sample(names, rng).to(dev)
        crop = tuple(slice(int(a), int(b)) for a, b in box)
        prior = torch.stack([torch.zeros(NET_SHAPE) if rng.random() < config.p_no_prior
                             else prior_logits(by_name[n].ids) for n in names])[(slice(None), *crop)].to(dev)
        logits, presence = net(inputs[None].to(dev), text, prior)
        loss = mask_loss(logits[0], presence[0], targets.to(dev), present.to(dev))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        done = step + 1
        if done % 25 == 0:
            log_file.write(json.dumps({"step": done, "loss": round(float(np.mean(losses[-25:])), 4),
                                       "seconds": round(time.time() - t0, 1)}) + "\n")
            log_file.flush()
        if progress:
            progress(done, config.steps, float(np.mean(losses[-25:])))
        if done % config.checkpoint_every == 0 or done == config.steps:
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save({"model": net.state_dict(), "optimiser": opt.state_dict(), "step": done}, tmp)
            tmp.replace(ckpt_path)
            save_net3d(net, out_dir / "textnet3d.safetensors", bank.canonical(pool),  # usable mid-run
                       {"trained_on": TRAINED_ON, "seed": str(config.seed), "steps": str(done)})
    log_file.close()
    return out_dir / "textnet3d.safetensors"


def finetune_text_net(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], concept: str, out_path: Path, *,
                      steps: int = 150, learning_rate: float = 1e-3, seed: int = 0, start_from: Path | None = None,
                      prior: torch.Tensor | None = None, progress: Progress | None = None) -> Path:
    """Teach the network ``concept`` from a few labelled volumes, with the encoder frozen.

    Args:
        pairs: Network inputs (channels, X, Y, Z) on the network grid and soft target masks (X, Y, Z).
        concept: The concept's text; its sentence embedding becomes the concept's query.
        out_path: Where to write the adapted weights (safetensors, with ``concept`` added to the known ones).
        steps, learning_rate, seed: Optimisation settings.
        start_from: Weights to start from (default: the shipped ones).
        prior: The concept's atlas prior logits on the network grid, if an atlas defines it.
        progress: Called with (step, steps, running loss).
    """
    if not pairs:
        raise InputFileError("no labelled volumes to fine-tune on", "give at least one image and its mask")
    torch.manual_seed(seed)
    loaded = load_net3d(start_from)
    net = loaded.net
    dev = device()
    net.to(dev)
    text = torch.as_tensor(loaded.embedding(concept))[None].to(dev)
    prior_dev = prior[None].to(dev) if prior is not None else None
    with torch.no_grad():  # the encoder is frozen: encode every volume once
        skips = [[s.detach() for s in net.encoder(x[None].to(dev))] for x, _ in pairs]
    targets = [y.to(dev) for _, y in pairs]
    present = torch.ones(1, device=dev)
    params = [*net.decoder.parameters(), *net.query.parameters(), *net.presence.parameters(),
              *net.scalar_parameters()]
    for p in net.encoder.parameters():
        p.requires_grad_(False)
    net.train()
    opt = torch.optim.AdamW(param_groups(net, params, learning_rate), weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    losses = []
    for step in range(steps):
        k = int(rng.integers(len(pairs)))
        logits, presence = net.readout(net.decoder(skips[k]), text, prior_dev)
        loss = mask_loss(logits[0], presence[0], targets[k][None], present)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if progress:
            progress(step + 1, steps, float(np.mean(losses[-20:])))
    net.cpu().eval()
    concepts = {**loaded.concepts, concept: text[0].cpu().numpy()}
    return save_net3d(net, out_path, concepts, {"finetuned_on": f"{len(pairs)} volumes of '{concept}'",
                                                "steps": str(steps)})
