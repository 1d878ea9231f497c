"""Train the lesion network (``vision.lesionnet``) on evaluation-kind cases with painted lesions.

The shipped weights (fit 9 of MODEL_CARD_lesionnet.md) follow fit 7's recipe again, from fit 5
(from git history: ``git show 65e03f8:src/voxelprompt/vision/data/lesionnet.safetensors >
runs/lesionnet-fit5.safetensors``), on the same seeds aligned afresh, so that every channel is
today's ``residual_channels`` (with the broad bias pass of the expected image). Run with
``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1 OMP_NUM_THREADS=1``; two ``data`` lines at a time fill
2 CPU cores. About 25 minutes of aligning the 128 training cases and 15 of aligning the 72 judge
cases (two processes at a time), 15 of painting (two at a time), 31 of fitting and 6 of judging:

    python scripts/train_lesionnet.py data runs/pd-f --seeds 10500-10531
    python scripts/train_lesionnet.py data runs/pd-c --seeds 10600-10631 --template icbm2009c-brain
    python scripts/train_lesionnet.py data runs/je-f --seeds 10700-10731
    python scripts/train_lesionnet.py data runs/je-c --seeds 10800-10831 --template icbm2009c-brain
    python scripts/train_lesionnet.py data runs/jd-f --seeds 10300-10323
    python scripts/train_lesionnet.py data runs/jd-c --seeds 10400-10423 --template icbm2009c-brain
    python scripts/train_lesionnet.py data runs/jc-f --seeds 10900-10911 --clean
    python scripts/train_lesionnet.py data runs/jc-c --seeds 11000-11011 --clean --template icbm2009c-brain
    python scripts/train_lesionnet.py paint runs/pd-f runs/pd-c --out runs/pp --variants 3
    python scripts/train_lesionnet.py paint runs/je-f runs/je-c --out runs/jp --variants 2
    python scripts/train_lesionnet.py fit runs/pd-f runs/pd-c runs/pp runs/je-f runs/je-c runs/jp \
        --init runs/lesionnet-fit5.safetensors --lr 1e-3 --steps 2000 --val 0 --seed 14 \
        --output runs/lesionnet.safetensors
    python scripts/train_lesionnet.py judge runs/lesionnet.safetensors runs/lesion_candidates.json \
        --all runs/jd-f runs/jd-c runs/jc-f runs/jc-c --least-absent 1.0

Fit 7 (shipped before fit 9; seed 8) ran the same fit on these cases with their channels computed
again by ``refresh`` after the bias of the expected image became local (its commands are in this
docstring at commit 219e4fe).

Fit 5 continued fit 4 (``git show 1e8342d:src/voxelprompt/vision/data/lesionnet.safetensors``;
the commands of fit 4 and earlier are in this docstring at that commit) with the first two
lines above, ``paint runs/pd-f runs/pd-c --out runs/pp --variants 3`` and ``fit runs/pd-f runs/pd-c
runs/pp --init runs/lesionnet-fit4.safetensors --lr 1e-3 --steps 1500 --val 0 --seed 7``; its
judge was fitted on the 48 cases of ``runs/jd-f`` and ``runs/jd-c`` (the commands of fit 5 are in
this docstring at commit 65e03f8).

``data`` builds cases as ``voxelprompt eval --lesions`` does (``evaluation.cases.make_case``, two
in three with lesions painted by ``evaluation.lesions.paint_lesions``) from one template. Each
case is aligned by the net engine's test-time deformation and stored as its residual channels and
lesion mask on the working grid (one ``.npz`` per case), with the aligned atlas labels and the
mirror map; ``--robust-alignment`` masks the one-sided blobs the template cannot explain while
aligning (``vision.deform3d.align_prior(robust=True)``), which keeps a lesion from being absorbed
but is not what the shipped fits were trained on; ``fit --robust-alignment`` records in the
weights that their cases were aligned so, and the net engine then aligns every scan the same way.
``paint`` copies such cases with new lesions painted on the working grid (``vision.lesion_synth``)
and their channels computed again, a few seconds a copy instead of an alignment. ``refresh``
computes the channels of stored cases again from their scan, template, labels and mirror map,
after a change to how the channels are derived, without aligning again.
Run ``data`` with ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1`` (what ``voxelprompt
--deterministic`` sets) for bit-identical cases; the shipped fits' cases were built without it,
so a rebuild differs slightly (the ``runs/b8`` judge cases were built with it). The seeds must not overlap the
evaluation's (0-2, 50-55, 100-104, 200-204, 300-399, 600-604). ``fit`` trains on random crops of
those cases and writes safetensors; the last ``--val`` cases of each folder are held out to choose
the threshold, the smallest lesion kept and the least peak probability of a lesion; its loss is
cross-entropy plus the soft Dice of each batch, and ``--crop-dice`` adds the mean soft Dice of each
crop holding a lesion, since the batch's Dice is ruled by its largest lesions; ``--lesion-share``
and ``--hard-share`` set the shares of crops centred on a lesion (0.5) and on a hard negative
(0.25), the rest falling anywhere in the brain. ``tune``
chooses them again, adding lesion-free cases. ``judge`` fits the candidate judge: a logistic
regression over each candidate lesion's features, with the candidate threshold, the smallest
candidate and the judge's cutoff chosen on out-of-fold (by case) judge probabilities.
``cutoff`` reads cases of ``voxelprompt eval --lesions`` (``--seeds``) as the net engine does, at
judge cutoffs 0.1-0.8, prints lesion Dice, lesions found and lesion-free scans clear for each, and
writes into the judge file the cutoff with the best Dice among those that keep at least
``--least-absent`` of the lesion-free scans clear (the shipped cutoff, 0.6, was checked so on the
development seeds 500-523: ``cutoff judge.json --seeds 500-523 --least-absent 0.97`` on a copy).
``flip-average`` makes the weights average the network over the scan flipped along each axis
(four passes; ``--off`` undoes it); fit the judge again afterwards, on the averaged probabilities.
``average`` writes one network whose weights are the mean of several fits from the same start, its
batch-norm statistics measured again on training crops of ``--data``; ``paint --first K`` paints
further copies (numbered from K) of cases painted before.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

TEMPLATE = "mni152-fsl-brain"
OUTLIER = 4  # index of the "outlier" channel (vision.lesion_residual.CHANNELS)
HARD_OUTLIER = 0.15
LESION_SHARE, HARD_SHARE = 0.5, 0.25  # default shares of crops centred on a lesion and on a hard negative


def seeds_from(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def case_paths(folder: Path) -> list[Path]:
    """The stored cases of ``folder`` (``case-*.npz``), sorted; an error when it holds none."""
    paths = sorted(folder.glob("case-*.npz"))
    if not paths:
        raise SystemExit(f"error: no case-*.npz in {folder}: give folders written by the data step")
    return paths


def save_case(dest: Path, **arrays) -> None:
    """One case written under a temporary name and then renamed, so a stopped run leaves no half-written case."""
    partial = dest.with_name("partial-" + dest.name)
    np.savez_compressed(partial, **arrays)
    partial.replace(dest)


def aligned_case(path: Path) -> dict:
    """A case of the data step with what ``residual_channels`` needs again: its labels and mirror map."""
    with np.load(path) as z:
        if "mirror" not in z:
            raise SystemExit(f"error: {path} has no mirror map: build it again with the data step")
        return {"channels": z["channels"].astype(np.float32), "target": z["target"], "labels": z["labels"],
                "mirror": z["mirror"].astype(np.float32), "description": str(z["description"])}


def channels_with_scan(case: dict, scan: np.ndarray) -> np.ndarray:
    """``residual_channels`` of an aligned case whose scan channel is ``scan``."""
    from voxelprompt.vision.lesion_residual import CHANNELS, residual_channels

    return residual_channels(scan, case["channels"][CHANNELS.index("template")], case["labels"], case["mirror"])


def make_data(out: Path, seeds: list[int], *, template: str = TEMPLATE, clean: bool = False,
              contrast: str | None = None, robust: bool = False) -> None:
    """Cases aligned as the net engine's lesion path aligns them, or with ``robust`` masking (``align_prior``)."""
    from voxelprompt.engines.net import LESION_MOVING, NetEngine
    from voxelprompt.engines.residual import aligned_inputs
    from voxelprompt.evaluation.cases import make_case
    from voxelprompt.evaluation.lesions import paint_lesions
    from voxelprompt.vision.lesion_residual import residual_channels, to_working_grid

    out.mkdir(parents=True, exist_ok=True)
    engine = NetEngine()
    for seed in seeds:
        path = out / f"case-{seed}.npz"
        if path.exists():
            continue
        start = time.perf_counter()
        case = make_case(seed, template, contrast=contrast)
        truth = np.zeros(case.image.shape[:3], bool)
        if seed % 3 != 2 and not clean:
            case, truth = paint_lesions(case, seed)
        spacing = np.asarray(case.image.spacing, float)
        reg = engine.deformed_prior(case.image, robust=robust, moving=LESION_MOVING)
        scan, template_t1, labels, mirror = aligned_inputs(case.image, reg)
        channels = residual_channels(scan, template_t1, labels, mirror)
        target = to_working_grid(truth.astype(np.float32), spacing) >= 0.5
        # labels and mirror let `paint` add lesions on the working grid without aligning again
        save_case(path, channels=channels.astype(np.float16), target=target, labels=labels,
                  mirror=mirror.astype(np.float16), description=json.dumps(case.description))
        print(f"{path.name}: {case.description['contrast']}, lesion {case.description.get('lesion_ml', 0):.2f} ml, "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def paint(folders: list[Path], out: Path, variants: int, first: int = 0) -> None:
    """``variants`` copies of every case of ``folders`` with new lesions painted (``vision.lesion_synth``).

    The copies are numbered from ``first``; copy ``k`` of a case is the same whenever it is painted."""
    from voxelprompt.vision.lesion_residual import CHANNELS, VOXEL_ML
    from voxelprompt.vision.lesion_synth import paint_lesions_working

    out.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        for path in case_paths(folder):
            case = aligned_case(path)
            target, description = case["target"], json.loads(case["description"])
            seed = int(path.stem.split("-")[1])
            for k in range(first, first + variants):
                dest = out / f"case-{seed}-p{k}.npz"
                if dest.exists():
                    continue
                start = time.perf_counter()
                rng = np.random.default_rng([seed, k, 91])
                scan, mask, kind = paint_lesions_working(rng, case["channels"][CHANNELS.index("scan")], case["labels"])
                painted = channels_with_scan(case, scan)
                desc = {**description, "lesions": kind if not target.any() else f"{description['lesions']}+{kind}",
                        "painted_ml": float(mask.sum() * VOXEL_ML)}
                save_case(dest, channels=painted.astype(np.float16), target=target | mask,
                          description=json.dumps(desc))
                print(f"{dest.name}: {kind}, {desc['painted_ml']:.2f} ml, {time.perf_counter() - start:.1f} s",
                      file=sys.stderr, flush=True)


def refresh(folders: list[Path], out: Path) -> None:
    """Cases of ``folders`` with their channels computed again by today's ``residual_channels``.

    The scan and template channels, the aligned labels and the mirror map are kept, so a change to
    how the channels are derived from them needs no new alignment.
    """
    from voxelprompt.vision.lesion_residual import CHANNELS

    for folder in folders:
        dest_dir = out / folder.name
        for path in case_paths(folder):
            dest = dest_dir / path.name
            if dest.exists():
                continue
            case = aligned_case(path)
            fresh = channels_with_scan(case, case["channels"][CHANNELS.index("scan")])
            dest_dir.mkdir(parents=True, exist_ok=True)
            save_case(dest, channels=fresh.astype(np.float16), target=case["target"], labels=case["labels"],
                      mirror=case["mirror"].astype(np.float16), description=case["description"])
            print(f"{dest_dir.name}/{dest.name}", file=sys.stderr, flush=True)


def selected_cases(folders: list[Path], n_val: int, extra: list[Path]) -> list[dict]:
    """The last ``n_val`` cases of each of ``folders`` (none for 0) and every case of ``extra``."""
    held_out = [c for f in folders for c in (load_cases(f)[-n_val:] if n_val else [])]
    return held_out + [c for f in extra for c in load_cases(f)]


def load_cases(folder: Path) -> list[dict]:
    cases = []
    for path in case_paths(folder):
        with np.load(path) as z:
            cases.append({"name": path.stem, "channels": z["channels"], "target": z["target"],
                          "description": json.loads(str(z["description"]))})
    return cases


def crops(cases: list[dict], rng: np.random.Generator, n: int, size: int, *, lesion_share: float = LESION_SHARE,
          hard_share: float = HARD_SHARE):
    """``n`` random crops (channels, target).

    ``lesion_share`` of them centred on a lesion voxel where a case has one, ``hard_share`` on a voxel
    where the scan differs from the template but not by a lesion, the rest anywhere in the brain.
    """
    import torch

    xs, ys = [], []
    for _ in range(n):
        c = cases[rng.integers(len(cases))]
        ch, tg = c["channels"], c["target"]
        pick = rng.random()
        if tg.any() and pick < lesion_share:
            where = np.argwhere(tg)
        elif pick >= 1 - hard_share:  # hard negatives: the scan differs from the template, but not by a lesion
            where = np.argwhere((ch[OUTLIER] > HARD_OUTLIER) & ~tg)
        else:
            where = np.argwhere(ch[-1] > 0)
        if len(where) == 0:
            where = np.argwhere(ch[-1] > 0)
        centre = where[rng.integers(len(where))] + rng.integers(-size // 4, size // 4 + 1, 3)
        lo = [int(np.clip(centre[a] - size // 2, 0, max(ch.shape[1 + a] - size, 0))) for a in range(3)]
        sl = tuple(slice(lo[a], lo[a] + size) for a in range(3))
        x, y = ch[(slice(None), *sl)].astype(np.float32), tg[sl].astype(np.float32)
        pad = [(0, size - n_) for n_ in y.shape]
        x, y = np.pad(x, [(0, 0), *pad], mode="edge"), np.pad(y, pad)
        for a in range(3):  # the working grid's axes are the scan's own: any flip is a valid scan
            if rng.random() < 0.5:
                x, y = np.flip(x, 1 + a), np.flip(y, a)
        perm = rng.permutation(3)
        x, y = x.transpose(0, *(1 + perm)), y.transpose(*perm)
        xs.append(np.ascontiguousarray(x))
        ys.append(np.ascontiguousarray(y))
    return torch.as_tensor(np.stack(xs)), torch.as_tensor(np.stack(ys))[:, None]


def loss_fn(logits, target, crop_dice: bool = False):
    """Cross-entropy plus the soft Dice of the batch as a whole.

    The batch's Dice is ruled by its largest lesions: a tumour of thousands of voxels outweighs a
    white-matter lesion of two hundred. ``crop_dice`` adds the mean soft Dice of each crop that holds
    a lesion, so that every lesion's crop counts alike.
    """
    import torch.nn.functional as F

    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = logits.sigmoid()
    dice = 1 - soft_dice(p, target, tuple(range(target.dim())))
    if crop_dice:
        per_crop = tuple(range(1, target.dim()))
        has = target.sum(per_crop) > 0
        if has.any():
            dice = dice + 1 - soft_dice(p, target, per_crop)[has].mean()
    return bce + dice


def soft_dice(p, target, dims: tuple[int, ...]):
    """Soft Dice of probabilities ``p`` with ``target``, summed over ``dims`` (+1 smoothing on both sides)."""
    return (2 * (p * target).sum(dims) + 1) / (p.sum(dims) + target.sum(dims) + 1)


def choose_settings(loaded, cases: list[dict]) -> dict:
    """Threshold, smallest lesion and least peak giving the best mean Dice, lesion-free cases mostly absent."""
    from voxelprompt.vision.lesion_residual import VOXEL_ML
    from voxelprompt.vision.lesionnet import components

    probs = [loaded.probability(c["channels"].astype(np.float32)) for c in cases]
    best = None
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        parts = []  # per case: component volumes, peaks, overlap with the truth (voxels), truth size (voxels)
        for c, p in zip(cases, probs):
            lbl, n, ml, peaks = components(p, threshold, VOXEL_ML)
            hit = ndimage_sum(c["target"], lbl, n)
            parts.append((ml, peaks, hit, int(c["target"].sum())))
        for min_ml in (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0):
            for peak in (0.0, 0.7, 0.8, 0.9, 0.95, 0.98):
                dices, absent = [], []
                for ml, peaks, hit, truth in parts:
                    keep = (ml >= min_ml) & (peaks >= peak)
                    if truth:
                        dices.append(2 * hit[keep].sum() / (ml[keep].sum() / VOXEL_ML + truth))
                    else:
                        absent.append(not keep.any())
                row = {"threshold": threshold, "min_ml": min_ml, "peak": peak, "dice": float(np.mean(dices)),
                       "absent": float(np.mean(absent)) if absent else 1.0}
                key = (row["absent"] >= 0.95, row["dice"] + 0.5 * row["absent"])
                if best is None or key > best[0]:
                    best = (key, row)
    return best[1]


def ndimage_sum(values: np.ndarray, lbl: np.ndarray, n: int) -> np.ndarray:
    from scipy import ndimage

    return ndimage.sum_labels(values, lbl, np.arange(1, n + 1)) if n else np.zeros(0)


def initial_net(path: Path):
    """The network of the weights at ``path``, widened (``vision.lesionnet.widened``) if they predate an input."""
    from voxelprompt.vision.lesion_residual import CHANNELS
    from voxelprompt.vision.lesionnet import load_lesionnet, widened
    from voxelprompt.vision.weights import read_safetensors

    state, metadata = read_safetensors(path)
    channels = json.loads(metadata.get("channels", "[]"))
    return load_lesionnet(path).net if channels == list(CHANNELS) else widened(state, channels)


def fit(folders: list[Path], output: Path, *, steps: int, n_val: int, seed: int, init: Path | None = None,
        lr: float = 2e-3, size: int = 48, batch: int = 4, deep: int = 0, crop_dice: bool = False,
        lesion_share: float = LESION_SHARE, hard_share: float = HARD_SHARE, robust: bool = False) -> None:
    """Weights trained on crops of the cases of ``folders``; ``robust``: the cases were aligned with
    ``--robust-alignment``, recorded so that the net engine aligns scans the same way."""
    import torch

    from voxelprompt.vision.lesionnet import LesionNet, LoadedLesionNet, deepened, save_lesionnet

    if min(lesion_share, hard_share) < 0 or lesion_share + hard_share > 1:
        raise SystemExit(f"error: crop shares {lesion_share} (lesion) and {hard_share} (hard negative) must be "
                         "at least 0 and add up to at most 1")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for folder in folders:
        cases = load_cases(folder)
        train += cases[:-n_val] if n_val else cases
        val += cases[-n_val:] if n_val else []
    net = initial_net(init) if init else LesionNet(deep=deep)
    if init and deep:
        net = deepened(net, deep)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    start, running = time.perf_counter(), []
    for step in range(1, steps + 1):
        x, y = crops(train, rng, batch, size, lesion_share=lesion_share, hard_share=hard_share)
        loss = loss_fn(net(x), y, crop_dice)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        running.append(float(loss.detach()))
        if step % 50 == 0 or step == steps:
            print(f"step {step}/{steps} loss {np.mean(running[-50:]):.4f} {time.perf_counter() - start:.0f} s",
                  file=sys.stderr, flush=True)
    net.eval()
    loaded = LoadedLesionNet(net, {})
    settings = choose_settings(loaded, val) if val else {"threshold": 0.5, "min_ml": 0.1}
    print(json.dumps({"validation": settings, "train_cases": len(train), "val_cases": len(val)}), flush=True)
    meta = {"threshold": settings["threshold"], "min_ml": settings["min_ml"], "peak": settings.get("peak", 0.0),
            "steps": steps, "seed": seed, "alignment": "robust" if robust else "plain",
            "loss": "bce + batch dice" + (" + crop dice" if crop_dice else ""),
            "crops": json.dumps({"lesion": lesion_share, "hard_negative": hard_share}),
            "init": (init.name + (f" deepened by {deep}" if deep else "")) if init else "none",
            "train_templates": ",".join(sorted({c["description"]["template"] for c in train})),
            "train_cases": ",".join(c["name"] for c in train),
            "validation": json.dumps(settings)}
    save_lesionnet(net, output, meta)


def tune(weights: Path, folders: list[Path], n_val: int, extra: list[Path]) -> None:
    """Choose the settings again: on the last ``n_val`` cases of each of ``folders`` and all cases of ``extra``."""
    from voxelprompt.vision.lesionnet import load_lesionnet, save_lesionnet

    loaded = load_lesionnet(weights)
    cases = selected_cases(folders, n_val, extra)
    settings = choose_settings(loaded, cases)
    print(json.dumps({"validation": settings, "cases": len(cases)}), flush=True)
    meta = {**loaded.metadata, "threshold": settings["threshold"], "min_ml": settings["min_ml"],
            "peak": settings["peak"],
            "validation": json.dumps(settings), "validation_cases": ",".join(c["name"] for c in cases)}
    save_lesionnet(loaded.net, weights, meta)


def average(weights: list[Path], output: Path, folders: list[Path], *, batches: int = 200, seed: int = 0) -> None:
    """One network whose parameters are the mean of several fits from the same start ("weight averaging").

    The batch-norm statistics of the mean are measured again on ``batches`` batches of training crops
    of ``folders`` (the means of the fits' statistics do not describe the mean network's activations);
    with no ``folders`` or no ``batches``, they stay the means of the fits' statistics."""
    from torch.optim.swa_utils import update_bn

    from voxelprompt.vision.lesionnet import load_lesionnet, save_lesionnet

    fits = [load_lesionnet(w) for w in weights]
    states = [f.net.state_dict() for f in fits]
    if any(s.keys() != states[0].keys() or any(s[k].shape != states[0][k].shape for k in s) for s in states):
        raise SystemExit("error: the weights have different layers: average fits of one architecture")
    net = fits[0].net
    net.load_state_dict({k: (sum(s[k].double() for s in states) / len(states)).to(states[0][k].dtype)
                         if states[0][k].is_floating_point() else states[0][k] for k in states[0]})
    cases = [c for f in folders for c in load_cases(f)]
    if batches and cases:  # a cumulative mean over the batches, the network left in evaluation mode
        rng = np.random.default_rng(seed)
        update_bn((crops(cases, rng, 4, 48)[0] for _ in range(batches)), net)
    meta = {**fits[0].metadata, "init": " + ".join(w.name for w in weights) + " (mean)",
            "seed": ",".join(f.metadata.get("seed", "?") for f in fits), "norm_batches": str(batches)}
    save_lesionnet(net, output, meta)
    print(json.dumps({"output": str(output), "fits": [str(w) for w in weights], "norm_batches": batches}), flush=True)


def flip_average(weights: Path, on: bool) -> None:
    """Turn averaging over flipped copies of the scan on or off in the weights' settings (refit the judge after)."""
    from voxelprompt.vision.lesionnet import load_lesionnet, save_lesionnet

    loaded = load_lesionnet(weights)
    save_lesionnet(loaded.net, weights, {**loaded.metadata, "flip_average": "1" if on else "0"})
    print(json.dumps({"weights": str(weights), "flip_average": on}), flush=True)


def candidate_table(loaded, cases: list[dict], threshold: float, min_ml: float) -> list[dict]:
    """Per case: candidate features, voxels, voxels on the truth, and the truth's size."""
    from voxelprompt.vision.lesion_candidates import candidate_features, candidates, feature_context

    table = []
    for c in cases:
        channels = c["channels"].astype(np.float32)
        prob = c.get("prob")
        if prob is None:
            prob = c["prob"] = loaded.probability(channels)
        if "context" not in c:
            c["context"] = feature_context(channels)
        lbl, n = candidates(prob, threshold, min_ml)
        table.append({"features": candidate_features(channels, prob, lbl, n, c["context"]),
                      "size": ndimage_sum(np.ones(lbl.shape), lbl, n), "hit": ndimage_sum(c["target"], lbl, n),
                      "truth": int(c["target"].sum())})
    return table


def judge_score(table: list[dict], keep: list[np.ndarray]) -> dict:
    dices, absent = [], []
    for t, k in zip(table, keep):
        if t["truth"]:
            dices.append(2 * t["hit"][k].sum() / (t["size"][k].sum() + t["truth"]))
        else:
            absent.append(not k.any())
    return {"dice": float(np.mean(dices)), "absent": float(np.mean(absent)) if absent else 1.0}


def fit_judge(loaded, cases: list[dict], *, folds: int = 5, c_reg: float = 1.0, least_absent: float = 0.95):
    """The candidate judge: thresholds and cutoff chosen on out-of-fold (by case) judge probabilities.

    The best mean Dice plus half the absent rate among settings that keep at least ``least_absent``
    of the lesion-free cases absent out of fold (or the best of all, when none does).
    """
    from sklearn.linear_model import LogisticRegression

    from voxelprompt.vision.lesion_candidates import CandidateJudge

    fold_of = np.arange(len(cases)) % folds
    best = None
    for threshold in (0.3, 0.5, 0.7, 0.9):
        for min_ml in (0.2, 0.3, 0.5, 1.0):
            table = candidate_table(loaded, cases, threshold, min_ml)
            x = np.concatenate([t["features"] for t in table])
            y = np.concatenate([t["hit"] >= 0.2 * t["size"] for t in table])
            case_of = np.concatenate([np.full(len(t["size"]), i) for i, t in enumerate(table)])
            oof = np.zeros(len(y))
            for f in range(folds):
                test = fold_of[case_of] == f
                if test.any() and len(np.unique(y[~test])) == 2:
                    mean, scale = x[~test].mean(0), x[~test].std(0) + 1e-6
                    model = LogisticRegression(C=c_reg, max_iter=1000).fit((x[~test] - mean) / scale, y[~test])
                    oof[test] = model.predict_proba((x[test] - mean) / scale)[:, 1]
            for cutoff in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
                row = {"threshold": threshold, "min_ml": min_ml, "cutoff": cutoff,
                       **judge_score(table, [oof[case_of == i] >= cutoff for i in range(len(table))])}
                key = (row["absent"] >= least_absent, row["dice"] + 0.5 * row["absent"])
                if best is None or key > best[0]:
                    unjudged = judge_score(table, [np.ones(len(t["size"]), bool) for t in table])
                    row |= {"dice_unjudged": unjudged["dice"], "absent_unjudged": unjudged["absent"]}
                    best = (key, row, x, y)
    _, row, x, y = best
    mean, scale = x.mean(0), x.std(0) + 1e-6
    model = LogisticRegression(C=c_reg, max_iter=1000).fit((x - mean) / scale, y)
    meta = {"threshold": row["threshold"], "min_ml": row["min_ml"], "cross_validated": row,
            "candidates": len(y), "true_candidates": int(y.sum()), "cases": [c["name"] for c in cases]}
    return CandidateJudge(mean, scale, model.coef_[0], float(model.intercept_[0]), row["cutoff"], meta)


def judge(weights: Path, output: Path, folders: list[Path], n_val: int, extra: list[Path],
          least_absent: float = 0.95) -> None:
    """Fit the candidate judge on the last ``n_val`` cases of each of ``folders`` and all cases of ``extra``."""
    from voxelprompt.vision.lesionnet import load_lesionnet

    loaded = load_lesionnet(weights)
    cases = selected_cases(folders, n_val, extra)
    fitted = fit_judge(loaded, cases, least_absent=least_absent)
    print(json.dumps(fitted.metadata["cross_validated"]), flush=True)
    output.write_text(json.dumps({**fitted.to_json(), "weights": weights.name}, indent=1) + "\n")


CUTOFFS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def cutoff_case(engine, planned: tuple, judge_path: str) -> dict:
    """One case of ``voxelprompt eval --lesions``, read out as the net engine does at every cutoff of ``CUTOFFS``
    (``NetEngine.lesion_evidence``, the judge's scores, and the outline of what each cutoff keeps)."""
    from voxelprompt.evaluation.lesions import lesion_case
    from voxelprompt.measure.overlap import dice
    from voxelprompt.vision.lesion_candidates import kept_mask, load_judge
    from voxelprompt.vision.lesion_outline import outline_on_scan_grid
    from voxelprompt.vision.lesion_residual import CHANNELS
    from voxelprompt.vision.lesionnet import shipped_lesionnet

    case, truth = lesion_case(planned)
    _, scan, channels, prob = engine.lesion_evidence(case.image, shipped_lesionnet())
    lbl, _, p = load_judge(Path(judge_path)).scored(channels, prob)
    expected, spacing = channels[CHANNELS.index("expected")], np.asarray(case.image.spacing, float)
    row, outlined = {"case": case.name, "painted": truth is not None}, {}
    for cutoff in CUTOFFS:
        kept = int((p >= cutoff).sum())  # candidates kept, the likeliest first: equal counts, equal outlines
        if kept not in outlined:
            mask = outline_on_scan_grid(scan, expected, prob, kept_mask(lbl, p, cutoff), spacing)
            outlined[kept] = {"present": bool(mask.any()),
                              "dice": dice(mask, truth).value if truth is not None else None}
        row[str(cutoff)] = outlined[kept]
    return row


def cutoff_table(rows: list[dict]) -> list[dict]:
    """Per cutoff of ``CUTOFFS``: the mean lesion Dice, the share of lesions found and of lesion-free cases absent."""
    table = []
    for cutoff in CUTOFFS:
        lesion = [r[str(cutoff)] for r in rows if r["painted"]]
        clean = [r[str(cutoff)] for r in rows if not r["painted"]]
        table.append({"cutoff": cutoff, "dice": float(np.mean([x["dice"] for x in lesion])),
                      "found": float(np.mean([x["present"] for x in lesion])),
                      "absent": float(np.mean([not x["present"] for x in clean]))})
    return table


def pick_cutoff(table: list[dict], least_absent: float) -> dict:
    """The row with the best Dice among those with at least ``least_absent`` absent (of all rows, when none has);
    ties go to the higher absent rate, then to the higher cutoff."""
    allowed = [t for t in table if t["absent"] >= least_absent] or table
    return max(allowed, key=lambda t: (round(t["dice"], 6), t["absent"], t["cutoff"]))


def choose_cutoff(judge_path: Path, seeds: list[int], *, least_absent: float, jobs: int = 2) -> None:
    """Set the judge's cutoff to the one with the best mean lesion Dice on ``voxelprompt eval --lesions`` cases of
    ``seeds`` among those that report at least ``least_absent`` of the lesion-free cases absent."""
    from functools import partial

    from voxelprompt.engines.net import NetEngine
    from voxelprompt.evaluation.harness import DEFAULT_TEMPLATES
    from voxelprompt.evaluation.lesions import lesion_plan
    from voxelprompt.evaluation.parallel import score_cases
    from voxelprompt.vision.lesion_candidates import load_judge

    load_judge(judge_path)  # a one-line error now, not from every worker
    planned = lesion_plan(seeds, DEFAULT_TEMPLATES)
    rows = score_cases(partial(cutoff_case, judge_path=str(judge_path)), planned, NetEngine(), jobs=jobs,
                       engine_factory=NetEngine, done=lambda row: print(row["case"], file=sys.stderr, flush=True))
    table = cutoff_table(rows)
    for row in table:
        print(json.dumps(row), flush=True)
    best = pick_cutoff(table, least_absent)
    data = json.loads(judge_path.read_text())
    data["cutoff"] = best["cutoff"]
    data["cutoff_chosen_on"] = {"seeds": f"{seeds[0]}-{seeds[-1]}", "templates": list(DEFAULT_TEMPLATES),
                                "least_absent": least_absent, "table": table}
    judge_path.write_text(json.dumps(data, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    d = sub.add_parser("data")
    d.add_argument("out", type=Path)
    d.add_argument("--seeds", required=True)
    d.add_argument("--clean", action="store_true", help="lesion-free cases only (to choose the settings)")
    d.add_argument("--template", default=TEMPLATE, help="template the cases are built from")
    d.add_argument("--contrast", help="one contrast for every case (default: drawn per seed, as in eval)")
    d.add_argument("--robust-alignment", action="store_true",
                   help="mask one-sided blobs the template cannot explain while aligning (not the shipped fits')")
    pt = sub.add_parser("paint", help="copies of aligned cases with new lesions painted on the working grid")
    pt.add_argument("data", type=Path, nargs="+", help="folders written by the data step")
    pt.add_argument("--out", type=Path, required=True)
    pt.add_argument("--variants", type=int, default=3)
    pt.add_argument("--first", type=int, default=0, help="number of the first copy (more copies of painted cases)")
    f = sub.add_parser("fit")
    f.add_argument("data", type=Path, nargs="+", help="folders of cases; --val holds out the last of each")
    f.add_argument("--init", type=Path, help="continue from these weights")
    f.add_argument("--lr", type=float, default=2e-3)
    f.add_argument("--output", type=Path, required=True)
    f.add_argument("--steps", type=int, default=1200)
    f.add_argument("--val", type=int, default=8)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--deep", type=int, default=0,
                   help="channels of a new level at an eighth of the resolution (0: none); "
                        "with --init it starts at zero")
    f.add_argument("--crop-dice", action="store_true",
                   help="add each lesion crop's own soft Dice to the loss, so small lesions weigh as much as tumours")
    f.add_argument("--lesion-share", type=float, default=LESION_SHARE, help="share of crops centred on a lesion")
    f.add_argument("--hard-share", type=float, default=HARD_SHARE,
                   help="share of crops centred where the scan differs from the template but not by a lesion")
    f.add_argument("--robust-alignment", action="store_true",
                   help="the cases were built with data --robust-alignment (the engine then aligns scans so)")
    t = sub.add_parser("tune")
    t.add_argument("weights", type=Path)
    t.add_argument("data", type=Path, nargs="*", default=[], help="folders whose last --val cases are used")
    t.add_argument("--val", type=int, default=6, help="the last cases of each folder, held out by fit")
    t.add_argument("--all", type=Path, nargs="*", default=[], help="folders used whole (lesion-free calibration)")
    j = sub.add_parser("judge", help="fit the lesion candidate judge (vision.lesion_candidates)")
    j.add_argument("weights", type=Path)
    j.add_argument("output", type=Path)
    j.add_argument("data", type=Path, nargs="*", default=[], help="folders whose last --val cases are used")
    j.add_argument("--val", type=int, default=4, help="the last cases of each folder, held out by fit")
    j.add_argument("--all", type=Path, nargs="*", default=[], help="folders of cases fit never saw, used whole")
    j.add_argument("--least-absent", type=float, default=0.95,
                   help="share of lesion-free cases the chosen settings must keep absent out of fold")
    co = sub.add_parser("cutoff", help="choose the judge's cutoff on evaluation-kind lesion cases, as eval reads them")
    co.add_argument("judge", type=Path, help="judge file (lesion_candidates.json) whose cutoff is set")
    co.add_argument("--seeds", required=True, help="seeds of the cases, as voxelprompt eval --lesions --seeds")
    co.add_argument("--least-absent", type=float, default=0.97,
                    help="share of lesion-free cases that must be reported absent")
    co.add_argument("--jobs", type=int, default=2)
    r = sub.add_parser("refresh", help="compute the channels of stored cases again (no new alignment)")
    r.add_argument("data", type=Path, nargs="+", help="folders written by the data step")
    r.add_argument("--out", type=Path, required=True, help="folder that receives one subfolder per data folder")
    av = sub.add_parser("average", help="the mean of several fits' weights, batch-norm statistics measured again")
    av.add_argument("weights", type=Path, nargs="+")
    av.add_argument("--output", type=Path, required=True)
    av.add_argument("--data", type=Path, nargs="*", default=[],
                    help="folders of cases whose crops measure the statistics (none: the mean of the fits')")
    av.add_argument("--batches", type=int, default=200)
    fa = sub.add_parser("flip-average", help="average the network over the scan flipped along each axis")
    fa.add_argument("weights", type=Path)
    fa.add_argument("--off", action="store_true", help="one pass on the scan as given (the default of new weights)")
    args = parser.parse_args()
    if args.step == "data":
        make_data(args.out, seeds_from(args.seeds), template=args.template, clean=args.clean,
                  contrast=args.contrast, robust=args.robust_alignment)
    elif args.step == "refresh":
        refresh(args.data, args.out)
    elif args.step == "paint":
        paint(args.data, args.out, args.variants, args.first)
    elif args.step == "judge":
        judge(args.weights, args.output, args.data, args.val, args.all, args.least_absent)
    elif args.step == "cutoff":
        choose_cutoff(args.judge, seeds_from(args.seeds), least_absent=args.least_absent, jobs=args.jobs)
    elif args.step == "average":
        average(args.weights, args.output, args.data, batches=args.batches)
    elif args.step == "flip-average":
        flip_average(args.weights, not args.off)
    elif args.step == "tune":
        tune(args.weights, args.data, args.val, args.all)
    else:
        fit(args.data, args.output, steps=args.steps, n_val=args.val, seed=args.seed, init=args.init, lr=args.lr,
            deep=args.deep, crop_dice=args.crop_dice, lesion_share=args.lesion_share, hard_share=args.hard_share,
            robust=args.robust_alignment)


if __name__ == "__main__":
    from voxelprompt.errors import VoxelPromptError

    try:
        main()
    except VoxelPromptError as err:
        raise SystemExit(f"error: {err}") from None
