"""The embedded box/point-prompted 2D segmenter: a small U-Net over the box's neighbourhood.

The region of interest (the box widened by a context margin) is cut out, resized to
``INPUT_PX`` square and stacked with three prompt channels: the box, positive points and negative
points (Gaussian dots). The network returns mask logits and a quality score (its own estimate of
the mask's Dice, like SAM's IoU head), which becomes the instance score.

Arrays are (rows, cols); boxes are ``(x0, y0, x1, y1)`` pixel edges; points are ``(x, y)`` pixel
centres. The encoder and the decoder are separate modules so that fine-tuning can freeze the
encoder.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

INPUT_PX = 96
CONTEXT = 0.2  # the box is widened by this fraction of its size on each side
POINT_SIGMA_PX = 3.0
CHANNELS = (16, 32, 48, 96, 128)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.GroupNorm(min(8, cout // 4), cout), nn.SiLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.GroupNorm(min(8, cout // 4), cout), nn.SiLU(),
    )


class Encoder(nn.Module):
    """Image and prompt channels to features at five scales."""

    def __init__(self, in_channels: int = 4, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        dims = (in_channels, *channels)
        self.blocks = nn.ModuleList(_block(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            feats.append(x)
        return feats


class Decoder(nn.Module):
    """Features to mask logits and a predicted Dice."""

    def __init__(self, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        rev = channels[::-1]
        self.blocks = nn.ModuleList(_block(a + b, b) for a, b in itertools.pairwise(rev))
        self.head = nn.Conv2d(channels[0], 1, 1)
        self.quality = nn.Sequential(nn.Linear(channels[-1] + channels[0] + 1, 64), nn.SiLU(), nn.Linear(64, 1))

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x = feats[-1]
        for block, skip in zip(self.blocks, feats[-2::-1]):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False),
                                 skip], 1))
        logits = self.head(x)
        fg = torch.sigmoid(logits).mean(dim=(2, 3))
        pooled = torch.cat([feats[-1].mean(dim=(2, 3)), x.mean(dim=(2, 3)), fg], 1)
        return logits, self.quality(pooled).squeeze(1)


class BoxPromptNet(nn.Module):
    """Encoder plus decoder; input (batch, 4, INPUT_PX, INPUT_PX)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.decoder = Decoder()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(self.encoder(x))


@dataclass(frozen=True)
class Roi:
    """The region cut out around a box, in pixel edges (may extend past the image)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def size(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def roi_for(box: tuple[float, float, float, float], context: float = CONTEXT, min_px: int = 16) -> Roi:
    """The box widened by ``context`` of its size on each side, at least ``min_px`` a side."""
    x0, y0, x1, y1 = box
    w, h = max(x1 - x0, 1), max(y1 - y0, 1)
    mx, my = max(context * w, (min_px - w) / 2, 2), max(context * h, (min_px - h) / 2, 2)
    return Roi(int(np.floor(x0 - mx)), int(np.floor(y0 - my)), int(np.ceil(x1 + mx)), int(np.ceil(y1 + my)))


def cut(array: np.ndarray, roi: Roi) -> np.ndarray:
    """The ROI of a (rows, cols) array; parts outside the image repeat the edge pixels."""
    rows, cols = array.shape
    pad = ((max(0, -roi.y0), max(0, roi.y1 - rows)), (max(0, -roi.x0), max(0, roi.x1 - cols)))
    padded = np.pad(array, pad, mode="edge") if any(p for pair in pad for p in pair) else array
    oy, ox = roi.y0 + pad[0][0], roi.x0 + pad[1][0]
    return padded[oy: oy + roi.size[0], ox: ox + roi.size[1]]


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def normalise(crop: np.ndarray) -> np.ndarray:
    """Zero mean, unit spread (robust) over the crop."""
    crop = crop.astype(np.float32)
    low, high = np.percentile(crop, [1, 99])
    return (crop - crop.mean()) / max(float(high - low) / 4, 1e-3)


def prompt_channels(roi: Roi, box: tuple[float, float, float, float] | None,
                    positive: list[tuple[float, float]], negative: list[tuple[float, float]]) -> np.ndarray:
    """(3, INPUT_PX, INPUT_PX): the box, the positive points and the negative points."""
    h, w = roi.size
    sy, sx = INPUT_PX / h, INPUT_PX / w
    grid = np.arange(INPUT_PX, dtype=np.float32) + 0.5
    out = np.zeros((3, INPUT_PX, INPUT_PX), np.float32)
    if box is not None:
        bx0, by0, bx1, by1 = ((box[0] - roi.x0) * sx, (box[1] - roi.y0) * sy, (box[2] - roi.x0) * sx,
                              (box[3] - roi.y0) * sy)
        out[0] = ((grid[:, None] >= by0) & (grid[:, None] <= by1) & (grid[None, :] >= bx0) & (grid[None, :] <= bx1))
    for channel, points in ((1, positive), (2, negative)):
        for x, y in points:
            px, py = (x + 0.5 - roi.x0) * sx, (y + 0.5 - roi.y0) * sy
            dot = np.exp(-((grid[:, None] - py) ** 2 + (grid[None, :] - px) ** 2) / (2 * POINT_SIGMA_PX ** 2))
            out[channel] = np.maximum(out[channel], dot)
    return out


def network_input(image: np.ndarray, roi: Roi, box: tuple[float, float, float, float] | None,
                  positive: list[tuple[float, float]], negative: list[tuple[float, float]]) -> torch.Tensor:
    """(4, INPUT_PX, INPUT_PX) tensor for one prompt on a (rows, cols) grayscale image."""
    crop = torch.from_numpy(normalise(cut(image, roi)))[None, None]
    picture = _resize(crop, (INPUT_PX, INPUT_PX))[0]
    return torch.cat([picture, torch.from_numpy(prompt_channels(roi, box, positive, negative))], 0)


def paste(probability: torch.Tensor, roi: Roi, shape: tuple[int, int]) -> np.ndarray:
    """Resize (INPUT_PX, INPUT_PX) probabilities to the ROI and place them on a (rows, cols) canvas."""
    up = F.interpolate(probability[None, None], size=roi.size, mode="bilinear", align_corners=False)[0, 0].numpy()
    canvas = np.zeros(shape, np.float32)
    ys, xs = slice(max(roi.y0, 0), min(roi.y1, shape[0])), slice(max(roi.x0, 0), min(roi.x1, shape[1]))
    canvas[ys, xs] = up[ys.start - roi.y0: ys.stop - roi.y0, xs.start - roi.x0: xs.stop - roi.x0]
    return canvas
