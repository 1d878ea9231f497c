"""Each lesion the network proposes, described by a few numbers, and a judge that keeps or drops it.

The lesion network marks voxels; many false lesions are whole components that look wrong only
as a whole: a thin rim along a tissue boundary the alignment missed, a faint patch that never
stands out from the tissue around it, a shape no lesion has. Computer-aided detection has long
worked in two stages for this reason: candidates first, then a classifier over candidate-level
features. Here the features are the component's size, how sure the network is of it, how far it
stands out from its own surroundings (in units of the scan's residual noise), whether it agrees
with the mirrored hemisphere, its shape, and where it lies. The judge is a logistic regression
whose coefficients ship as ``lesion_candidates.json`` and are fitted by
``scripts/train_lesionnet.py judge``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
from scipy import ndimage

from voxelprompt.errors import InputFileError
from voxelprompt.vision.lesion_residual import CHANNELS, VOXEL_ML, WORK_MM
from voxelprompt.vision.lesionnet import components

SHIPPED_JUDGE = "lesion_candidates.json"
FEATURES = ("log volume", "peak", "mean probability", "contrast", "coherence", "asymmetry", "fill", "elongation",
            "white matter", "csf", "near edge", "template gradient")
EDGE_MM = 3.0  # "near edge": within this distance of the aligned atlas brain's boundary
SHELL = 2  # working voxels around a component that give its surroundings


def candidates(prob: np.ndarray, threshold: float, min_ml: float) -> tuple[np.ndarray, int]:
    """Connected components of ``prob >= threshold`` of at least ``min_ml``, labelled 1..n."""
    lbl, n, ml, _ = components(prob, threshold, VOXEL_ML)
    if not n:
        return lbl, 0
    keep = np.zeros(n + 1, int)
    big = np.flatnonzero(ml >= min_ml)
    keep[big + 1] = np.arange(1, len(big) + 1)
    return keep[lbl], len(big)


def feature_context(channels: np.ndarray) -> dict:
    """What the features of every candidate of one scan share: its residual noise, edge zone and template gradient."""
    ch = {name: channels[i] for i, name in enumerate(CHANNELS)}
    brain = ch["brain"] > 0.5
    noise = 1.4826 * float(np.median(np.abs(ch["residual"][brain]))) if brain.any() else 0.0
    return {"channels": ch, "noise": max(noise, 1e-4),
            "edge": ndimage.distance_transform_edt(brain) * WORK_MM <= EDGE_MM,
            "gradient": ndimage.gaussian_gradient_magnitude(ch["expected"], 1.0)}


def candidate_features(channels: np.ndarray, prob: np.ndarray, lbl: np.ndarray, n: int,
                       context: dict | None = None) -> np.ndarray:
    """Features (n, len(FEATURES)) of the components 1..n of ``lbl`` on the working grid.

    ``context`` is ``feature_context(channels)``, when the caller judges several candidate sets of one scan.
    """
    out = np.zeros((n, len(FEATURES)))
    if not n:
        return out
    context = context or feature_context(channels)
    ch, noise, edge, gradient = context["channels"], context["noise"], context["edge"], context["gradient"]
    residual = ch["residual"]
    for i, sl in enumerate(ndimage.find_objects(lbl)):
        if sl is None:
            continue
        box = tuple(slice(max(s.start - SHELL, 0), s.stop + SHELL) for s in sl)
        inside = lbl[box] == i + 1
        shell = ndimage.binary_dilation(inside, iterations=SHELL) & ~inside & (lbl[box] == 0)
        res = residual[box]
        level = float(np.median(res[inside]))
        around = float(np.median(res[shell])) if shell.any() else 0.0
        sign = 1.0 if level >= around else -1.0
        step = abs(level - around)
        out[i] = (np.log(inside.sum() * VOXEL_ML), prob[box][inside].max(), prob[box][inside].mean(),
                  step / noise, abs(res[inside].mean()) / max(float(np.abs(res[inside]).mean()), 1e-6),
                  sign * float(ch["asymmetry"][box][inside].mean()) / max(step, 1e-4),
                  *_shape(inside), ch["white matter"][box][inside].mean(), ch["csf"][box][inside].mean(),
                  edge[box][inside].mean(), float(gradient[box][inside].mean()) / max(step, 1e-4))
    return out


def _shape(inside: np.ndarray) -> tuple[float, float]:
    """How fully the component fills the ellipsoid of its second moments, and its least/most axis ratio."""
    points = np.argwhere(inside).astype(float)
    if len(points) < 4:
        return 1.0, 1.0
    eig = np.clip(np.linalg.eigvalsh(np.cov(points.T) + np.eye(3) / 12), 1e-6, None)
    ellipsoid = 4 / 3 * np.pi * 5 ** 1.5 * np.sqrt(eig.prod())  # a solid ellipsoid has axis variances a²/5
    return min(len(points) / ellipsoid, 2.0), float(np.sqrt(eig[0] / eig[-1]))


@dataclass(frozen=True)
class CandidateJudge:
    """Logistic regression over standardised ``FEATURES``; a candidate is kept when p >= ``cutoff``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    cutoff: float
    metadata: dict

    def probability(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.scale @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    @property
    def threshold(self) -> float:
        """Lesion probability that outlines a candidate."""
        return float(self.metadata.get("threshold", 0.5))

    @property
    def min_ml(self) -> float:
        """Smallest candidate (ml) judged at all."""
        return float(self.metadata.get("min_ml", 0.2))

    def scored(self, channels: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidates (labelled 1..n on the working grid), their features (n, F) and judge probabilities (n)."""
        lbl, n = candidates(prob, self.threshold, self.min_ml)
        features = candidate_features(channels, prob, lbl, n)
        return lbl, features, self.probability(features) if n else np.zeros(0)

    def lesions(self, channels: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, list[dict]]:
        """The judged lesion mask on the working grid, and one row per candidate (volume, features, verdict)."""
        lbl, features, p = self.scored(channels, prob)
        kept = p >= self.cutoff
        rows = [{"volume_ml": round(float(np.exp(f[0])), 3), "judge_probability": round(float(q), 3),
                 "kept": bool(k), **{name: round(float(v), 3) for name, v in zip(FEATURES[1:], f[1:])}}
                for f, q, k in zip(features, p, kept)]
        return kept_mask(lbl, p, self.cutoff), rows

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept, "cutoff": self.cutoff, **self.metadata}


def kept_mask(lbl: np.ndarray, p: np.ndarray, cutoff: float) -> np.ndarray:
    """The candidates of ``lbl`` (labelled 1..n) whose judge probability ``p`` (n) is at least ``cutoff``."""
    return np.isin(lbl, 1 + np.flatnonzero(p >= cutoff))


def load_judge(path: Path) -> CandidateJudge:
    try:
        d = json.loads(Path(path).read_text())
        if d.get("features") != list(FEATURES):
            raise ValueError("its features are not today's")
        base = {"mean", "scale", "coef", "intercept", "cutoff", "features"}
        return CandidateJudge(np.asarray(d["mean"], float), np.asarray(d["scale"], float), np.asarray(d["coef"], float),
                              float(d["intercept"]), float(d["cutoff"]), {k: v for k, v in d.items() if k not in base})
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputFileError(f"cannot read the lesion candidate judge {path} ({err})",
                             "fit one with scripts/train_lesionnet.py judge") from None


@cache
def shipped_judge() -> CandidateJudge | None:
    path = Path(str(resources.files("voxelprompt.vision") / "data" / SHIPPED_JUDGE))
    return load_judge(path) if path.exists() else None
