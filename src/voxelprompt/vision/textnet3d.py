"""The language-conditioned 3D segmentation network.

A 3D U-Net encodes the input channels once: one or two co-registered images, optional box and
point prompt channels, and the voxel's MNI coordinates. Its decoder ends in a per-voxel feature
vector. A concept's frozen sentence embedding (all-MiniLM-L6-v2, 384-d) is mapped to a query in
the same space; the mask logit is a learned temperature times the cosine of query and voxel
feature, plus a per-concept bias (query-voxel products, as in MaskFormer and LSeg), so N concepts
cost one encoding plus N dot products. Normalising both sides keeps the product away from the
flat start where a small query and small features give each other no gradient. For concepts an
atlas defines, the logits also receive the concept's atlas prior on the (affinely aligned) grid,
so the network starts from the atlas's answer and learns where the image says otherwise; for
pathology and new concepts the prior is zero and the text alone carries the concept. A presence
score ("is this concept in the image at all") is read from the concept's logit map. Works on 2D
slices too (a volume one voxel thick is padded).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from voxelprompt.vision.synth3d import IN_CHANNELS

TEXT_DIM = 384
CHANNELS = (16, 32, 64, 128)
FEATURE_DIM = 48
TOPK = 20


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.1, True),
        nn.Conv3d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm3d(cout, affine=True), nn.LeakyReLU(0.1, True),
    )


class Encoder3D(nn.Module):
    def __init__(self, in_channels: int = IN_CHANNELS, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        cin = in_channels
        for c in channels:
            self.blocks.append(_block(cin, c))
            cin = c

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for k, block in enumerate(self.blocks):
            if k:
                x = F.max_pool3d(x, 2)
            x = block(x)
            skips.append(x)
        return skips


class Decoder3D(nn.Module):
    def __init__(self, channels: tuple[int, ...] = CHANNELS, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.ups = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for deep, shallow in zip(channels[::-1][:-1], channels[::-1][1:]):
            self.ups.append(nn.Conv3d(deep, shallow, 1))
            self.blocks.append(_block(2 * shallow, shallow))
        self.head = nn.Conv3d(channels[0], feature_dim, 1)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = skips[-1]
        for up, block, skip in zip(self.ups, self.blocks, skips[::-1][1:]):
            x = F.interpolate(up(x), size=skip.shape[2:], mode="trilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return self.head(x)


class ConceptQuery(nn.Module):
    """Sentence embedding -> query vector and mask bias."""

    def __init__(self, feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(TEXT_DIM, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(),
                                 nn.Linear(256, feature_dim + 1))

    def forward(self, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.mlp(text)
        return out[:, :-1], out[:, -1]


class TextConditionedNet3D(nn.Module):
    """Image channels + concept embeddings -> mask logits and presence logits."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder3D()
        self.decoder = Decoder3D()
        self.query = ConceptQuery()
        self.presence = nn.Linear(2, 1)
        self.log_temperature = nn.Parameter(torch.tensor(0.7))  # logits = T * cosine + bias + w * prior
        self.prior_weight = nn.Parameter(torch.tensor(1.0))

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Per-voxel features (B, D, X, Y, Z) of inputs (B, C, X, Y, Z); other sizes than multiples of 8 are padded."""
        size = inputs.shape[2:]
        mult = 2 ** (len(CHANNELS) - 1)
        pad = [(-s) % mult for s in size]
        if any(pad):
            inputs = F.pad(inputs, [p for q in reversed(pad) for p in (0, q)])
        feats = self.decoder(self.encoder(inputs))
        return feats[:, :, : size[0], : size[1], : size[2]]

    def readout(self, feats: torch.Tensor, text: torch.Tensor,
                prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask logits (B, N, X, Y, Z) and presence logits (B, N) for N concept embeddings (N, 384).

        ``prior`` (N, X, Y, Z): the concept's atlas prior as logits on the same grid (zeros where
        none is known, e.g. pathology or a fine-tuned concept).
        """
        q, bias = self.query(text)
        cosine = torch.einsum("bdxyz,nd->bnxyz", F.normalize(feats, dim=1), F.normalize(q, dim=-1))
        if prior is not None:  # the text's bias only where no prior sets the baseline
            has_prior = prior.flatten(1).abs().amax(1) > 0
            bias = torch.where(has_prior, torch.zeros_like(bias), bias)
        logits = self.log_temperature.exp() * cosine + bias[None, :, None, None, None]
        if prior is not None:
            logits = logits + self.prior_weight * prior[None]
        flat = logits.flatten(2)
        top = flat.topk(min(TOPK, flat.shape[-1]), dim=-1).values.mean(-1)
        mass = torch.log1p(torch.sigmoid(flat).sum(-1))
        presence = self.presence(torch.stack([top, mass], -1))[..., 0]
        return logits, presence

    def scalar_parameters(self) -> list[nn.Parameter]:
        """The temperature and the prior's weight: optimisers give them a higher learning rate."""
        return [self.log_temperature, self.prior_weight]

    def forward(self, inputs: torch.Tensor, text: torch.Tensor,
                prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.readout(self.features(inputs), text, prior)
