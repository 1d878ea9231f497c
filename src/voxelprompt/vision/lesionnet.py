"""The lesion network: a small 3D U-Net over the residual channels of ``vision.lesion_residual``.

It answers one question per voxel of the working grid: does the scan differ from its aligned,
repainted template here because of a lesion, or because the template's anatomy differs? Its
weights ship as ``lesionnet.safetensors`` (with ``MODEL_CARD_lesionnet.md``) and are trained by
``scripts/train_lesionnet.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from voxelprompt.errors import InputFileError
from voxelprompt.vision.lesion_residual import CHANNELS, WORK_MM
from voxelprompt.vision.weights import read_safetensors, write_safetensors

SHIPPED_LESION = "lesionnet.safetensors"
WIDTHS = (24, 48)  # half and quarter resolution
FINE = 12  # channels of the full-resolution refinement


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm3d(cout),
                         nn.LeakyReLU(0.1))


class LesionNet(nn.Module):
    """Residual channels (N, C, X, Y, Z) -> lesion logits (N, 1, X, Y, Z); any size divisible by 4 (8 with ``deep``).

    A strided stem to half resolution, one level below it, and a full-resolution refinement that
    sees the input channels again, so that the costly layers run on an eighth of the voxels. With
    ``deep`` channels, a level at an eighth of the resolution adds context (about 90 mm across
    instead of 45 at the 1.5 mm working grid); it enters the quarter level through a 1x1
    convolution that starts at zero (``lift``), so a deepened network computes what it did before.
    """

    def __init__(self, in_channels: int = len(CHANNELS), widths: tuple[int, int] = WIDTHS, fine: int = FINE,
                 deep: int = 0) -> None:
        super().__init__()
        half, quarter = widths
        self.stem = nn.Sequential(_conv(in_channels, half, stride=2), _conv(half, half))
        self.low = nn.Sequential(_conv(half, quarter), _conv(quarter, quarter))
        self.merge = _conv(half + quarter, half)
        self.fine = nn.Sequential(_conv(in_channels + half, fine), nn.Conv3d(fine, 1, 1))
        self.deep = nn.Sequential(_conv(quarter, deep), _conv(deep, deep)) if deep else None
        self.lift = nn.Conv3d(deep, quarter, 1) if deep else None
        if self.lift is not None:
            nn.init.zeros_(self.lift.weight)
            nn.init.zeros_(self.lift.bias)

    @property
    def multiple(self) -> int:
        """What every side of the input must be divisible by."""
        return 8 if self.deep is not None else 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.stem(x)
        b = self.low(F.max_pool3d(a, 2))
        if self.deep is not None:
            c = self.lift(self.deep(F.max_pool3d(b, 2)))
            b = b + F.interpolate(c, size=b.shape[2:], mode="trilinear", align_corners=False)
        a = self.merge(torch.cat([a, F.interpolate(b, size=a.shape[2:], mode="trilinear", align_corners=False)], 1))
        up = F.interpolate(a, size=x.shape[2:], mode="trilinear", align_corners=False)
        return self.fine(torch.cat([x, up], 1))


@dataclass
class LoadedLesionNet:
    net: LesionNet
    metadata: dict[str, str]

    @property
    def threshold(self) -> float:
        return float(self.metadata.get("threshold", 0.5))

    @property
    def min_ml(self) -> float:
        """Smallest connected lesion (ml) reported: smaller components are dropped."""
        return float(self.metadata.get("min_ml", 0.1))

    @property
    def peak(self) -> float:
        """Least peak probability of a reported lesion: components never this sure of themselves are dropped."""
        return float(self.metadata.get("peak", 0.0))

    @property
    def flip_average(self) -> bool:
        """Whether ``probability`` averages the scan as given and mirrored along each working axis in turn."""
        return str(self.metadata.get("flip_average", "0")) == "1"

    @property
    def robust_alignment(self) -> bool:
        """Whether the network learned from scans aligned with one-sided blobs masked (``align_prior(robust=True)``)."""
        return self.metadata.get("alignment") == "robust"

    def probability(self, channels: np.ndarray) -> np.ndarray:
        """Lesion probability on the working grid for residual ``channels`` (C, X, Y, Z).

        With ``flip_average``, the mean of four passes: as given and flipped along each axis (the
        network was trained on flipped crops, so each is an equally valid view of the scan).
        """
        shape = channels.shape[1:]
        pad = [(0, (-n) % self.net.multiple) for n in shape]
        x = torch.as_tensor(np.pad(channels, [(0, 0), *pad], mode="edge"))[None]
        with torch.no_grad():
            p = torch.sigmoid(self.net(x))
            if self.flip_average:
                for dims in ((2,), (3,), (4,)):
                    p += torch.sigmoid(self.net(x.flip(dims))).flip(dims)
                p /= 4
        return p[0, 0, : shape[0], : shape[1], : shape[2]].numpy()

    def lesion_mask(self, prob: np.ndarray, voxel_ml: float) -> np.ndarray:
        """``prob`` thresholded, without components smaller than ``min_ml`` or never reaching ``peak``."""
        lbl, _, ml, peaks = components(prob, self.threshold, voxel_ml)
        return np.isin(lbl, 1 + np.flatnonzero((ml >= self.min_ml) & (peaks >= self.peak)))


def components(prob: np.ndarray, threshold: float, voxel_ml: float):
    """Connected components of ``prob >= threshold``: labels, count, volume (ml) and peak probability of each."""
    lbl, n = ndimage.label(prob >= threshold)
    if not n:
        return lbl, 0, np.zeros(0), np.zeros(0)
    index = np.arange(1, n + 1)
    ml = ndimage.sum_labels(np.ones_like(prob), lbl, index) * voxel_ml
    return lbl, n, ml, ndimage.maximum(prob, lbl, index)


def widened(state: dict[str, torch.Tensor], channels: list[str]) -> LesionNet:
    """A network for today's ``CHANNELS`` from the weights ``state`` of one that took ``channels``.

    Every input it never saw starts with zero weights, so the widened network computes exactly what
    the old one did, and training from it learns what the new inputs add.
    """
    missing = [c for c in channels if c not in CHANNELS]
    if missing:
        raise InputFileError(f"weights take inputs the lesion network no longer has: {', '.join(missing)}",
                             "train new weights with scripts/train_lesionnet.py")
    net = LesionNet()
    wanted = net.state_dict()
    for key, value in state.items():
        value = value.float()
        if key in wanted and value.shape != wanted[key].shape:  # a first convolution: inputs, then features
            wide = torch.zeros_like(wanted[key])
            wide[:, [CHANNELS.index(name) for name in channels]] = value[:, :len(channels)]
            wide[:, len(CHANNELS):] = value[:, len(channels):]
            value = wide
        wanted[key] = value
    net.load_state_dict(wanted)
    return net


def shipped_lesion_weights() -> Path:
    return Path(str(resources.files("voxelprompt.vision") / "data" / SHIPPED_LESION))


def deepened(net: LesionNet, deep: int) -> LesionNet:
    """``net`` with a new level of ``deep`` channels at an eighth of the resolution, computing what ``net`` did."""
    if net.deep is not None:
        raise InputFileError("these lesion-network weights already have the deep level",
                             "continue from them without --deep")
    out = LesionNet(deep=deep)
    out.load_state_dict(net.state_dict(), strict=False)  # only deep.* and lift.* are new
    return out


def deep_channels(state: dict[str, torch.Tensor]) -> int:
    """Channels of the deep level in the weights ``state`` (0 when they have none)."""
    weight = state.get("lift.weight")
    return int(weight.shape[1]) if weight is not None else 0


def save_lesionnet(net: LesionNet, path: Path, metadata: dict[str, str]) -> Path:
    meta = {"architecture": "LesionNet", "channels": json.dumps(CHANNELS), "work_mm": WORK_MM, **metadata}
    return write_safetensors(path, net.state_dict(), meta, torch.float32)


def load_lesionnet(path: Path | None = None) -> LoadedLesionNet:
    path = path or shipped_lesion_weights()
    state, metadata = read_safetensors(path)
    if metadata.get("architecture") != "LesionNet":
        raise InputFileError(f"weights {path} are not for the lesion network",
                             "give weights written by scripts/train_lesionnet.py")
    net = LesionNet(deep=deep_channels(state))
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as err:
        raise InputFileError(f"weights {path} do not fit the lesion network ({str(err).splitlines()[0]})",
                             "give weights written by scripts/train_lesionnet.py") from None
    return LoadedLesionNet(net.eval(), metadata)


@cache
def shipped_lesionnet() -> LoadedLesionNet | None:
    path = shipped_lesion_weights()
    return load_lesionnet(path) if path.exists() else None
