"""``voxelprompt finetune`` on 3D volumes: teach the network a new concept from a few labelled scans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from voxelprompt.concepts import ConceptRef
from voxelprompt.concepts.vocabulary import Concept
from voxelprompt.errors import InputFileError

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".nrrd", ".nhdr")


def _volume_files(folder: Path) -> dict[str, Path]:
    from voxelprompt.files import full_suffix

    out = {}
    for p in sorted(folder.iterdir()):
        suffix = full_suffix(p)
        if p.is_file() and suffix in VOLUME_SUFFIXES:
            out[p.name[: -len(suffix)]] = p
    return out


def has_volumes(folder: Path) -> bool:
    return folder.is_dir() and bool(_volume_files(folder))


def volume_pairs(images: Path, labels: Path | None) -> list[tuple[Path, Path]]:
    """(image, mask) files matched by name (a mask may add _mask, _seg or _label to the image's name)."""
    if labels is None:
        raise InputFileError("3D fine-tuning needs --labels", "give a folder of masks named like the volumes")
    if not labels.is_dir():
        raise InputFileError(f"label folder {labels} does not exist", "give a folder of mask volumes")
    masks = {}
    for stem, path in _volume_files(labels).items():
        for tail in ("_mask", "_seg", "_label", "_labels", ""):
            if tail and stem.endswith(tail):
                stem = stem[: -len(tail)]
                break
        masks[stem] = path
    pairs = [(img, masks[stem]) for stem, img in _volume_files(images).items() if stem in masks]
    if not pairs:
        raise InputFileError(f"no volume in {images} has a mask of the same name in {labels}",
                             "name masks like their volumes (case01.nii.gz and case01.nii.gz or case01_mask.nii.gz)")
    return pairs


def custom_ref(concept: str) -> ConceptRef:
    """A concept outside the vocabulary, named by the user's text."""
    name = " ".join(concept.strip().lower().split())
    return ConceptRef(Concept(name=name, kind="anatomy", region="brain", group="custom", lobe=None, lateral=False,
                              synonyms=()), "midline")


def _dice(engine, ref: ConceptRef, image, mask) -> float:
    seg = engine.segment([image], ref)
    pred = np.asarray(seg.mask.array, bool)
    truth = np.asarray(mask.array) > 0
    denom = pred.sum() + truth.sum()
    return float(2 * (pred & truth).sum() / denom) if denom else 1.0


def finetune_volumes(images: Path, labels: Path | None, concept: str, output: Path, *, steps: int, holdout: float,
                     seed: int, register: bool, progress=None) -> dict:
    """Fine-tune the 3D network on labelled volumes; score held-out volumes before and after."""
    from voxelprompt.engines.finetuned import register_finetuned
    from voxelprompt.engines.net import NetEngine
    from voxelprompt.vision.datasets2d import split_pairs
    from voxelprompt.vision.train3d import finetune_text_net
    from voxelprompt.volume import load

    pairs = volume_pairs(images, labels)
    train, held = split_pairs(pairs, holdout, seed)
    ref = custom_ref(concept)
    base = NetEngine(free_text=True)
    if not base.available():
        raise InputFileError("no network weights are installed", "reinstall voxelprompt")
    loaded_train = [(load(i), load(m)) for i, m in train]
    training = [base.training_pair(img, mask) for img, mask in loaded_train]
    loaded_held = [(load(i), load(m)) for i, m in held]
    before = [_dice(base, ref, img, mask) for img, mask in loaded_held]
    finetune_text_net(training, ref.name, output, steps=steps, seed=seed, prior=base.prior(ref), progress=progress)
    tuned = NetEngine(output)
    after = [_dice(tuned, ref, img, mask) for img, mask in loaded_held]
    report = {"concept": ref.name, "weights": str(output), "volumes": len(pairs), "train_volumes": len(train),
              "heldout_volumes": len(held), "steps": steps, "frozen": "encoder",
              "heldout": [{"image": str(i), "dice_before": b, "dice_after": a}
                          for (i, _), b, a in zip(held, before, after)],
              "heldout_dice_before": float(np.mean(before)) if before else None,
              "heldout_dice_after": float(np.mean(after)) if after else None,
              "registered": register_finetuned(ref.name, output, kind="3d") if register else None}
    output.with_suffix(".json").write_text(json.dumps(report, indent=2))
    return report
