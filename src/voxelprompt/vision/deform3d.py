"""Test-time deformable alignment of the atlas prior to an affinely aligned scan.

The ``net`` engine's atlas prior sits where an affine registration puts it. Here it is moved
further by a smooth displacement field optimised for this scan (instance optimisation, as in
learned registration work that refines at test time), on the network's 2 mm MNI grid:

- the moving image is the ICBM 2009a T1 (brain only), *repainted* in the scan's contrast: every
  one of 64 bins of template intensity takes the mean scan intensity it lands on under the current
  field (redone every 15 steps), so inverted and arbitrarily remapped contrasts are handled;
- by default that T1 is first bent half-way towards the anatomy the label map describes
  ("label-consistent", ``consistency_field``): the labels read through the field are of another
  brain (FreeSurfer's cvs_avg35), which differs from the 2009a anatomy by about 2 mm on average,
  and an alignment that follows the plain T1 carries that difference into every mask;
- the similarity is local normalised cross-correlation (window of 5 voxels), robust to bias fields;
- the field is a small affine correction plus displacements on coarse control grids (about 32,
  16 and 8 mm apart, coarse to fine, at 8, 4 and 2 mm image resolution), upsampled trilinearly,
  with a diffusion penalty; Adam, a fixed number of steps, deterministic.

The result is the displacement (mm, MNI axes) of every network voxel: a voxel at MNI point ``q``
after the affine shows the atlas at ``q + d(q)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from scipy import ndimage

from voxelprompt.vision.synth3d import NET_ORIGIN, NET_SHAPE, NET_SPACING, anatomy

# (control points per axis, Adam steps, image pooling of the 2 mm grid)
STAGES = ((6, 7, 6, 80, 4), (11, 13, 11, 60, 2), (21, 25, 21, 40, 1))
WINDOW = 5
SMOOTHNESS = 0.005
LEARNING_RATE_MM = 0.5
REPAINT_EVERY = 15
BINS = 64
MOVING = ("label-consistent", "icbm2009a")  # the default moving image first
CONSISTENCY_FILE = "template-consistency.safetensors"
OUTLIER_Z = 2.5  # robust alignment: a voxel this many residual spreads from the repainted template is masked


@dataclass
class Deformation:
    """Displacement (3, X, Y, Z) in mm on the network grid, and how long it took."""

    displacement_mm: torch.Tensor
    similarity: float
    seconds: float


@cache
def brain_box() -> tuple[slice, slice, slice]:
    """The template brain's box on the network grid (plus 4 voxels), with ends on multiples of 4."""
    brain = anatomy().brain[::2, ::2, ::2]
    nz = np.argwhere(brain)
    lo = np.maximum((nz.min(0) - 4) // 4 * 4, 0)
    hi = np.minimum(-(-(nz.max(0) + 5) // 4) * 4, NET_SHAPE)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def painted_labels() -> np.ndarray:
    """The label map painted with the 2009a T1's mean intensity in each label (1 mm, the anatomy grid, 0..1).

    Label 0 inside the brain (sulcal and outer CSF) takes its own mean; outside the brain it is 0.
    Smoothed by 0.5 voxel, so that its edges are not sharper than a scan's. What the consistency
    field aligns the T1 to (``scripts/build_template_consistency.py``).
    """
    a = anatomy()
    ids, inverse = np.unique(a.labels, return_inverse=True)
    inverse = inverse.reshape(a.labels.shape)
    inside = a.brain.ravel()
    sums = np.bincount(inverse.ravel()[inside], weights=a.t1.ravel()[inside], minlength=len(ids))
    counts = np.bincount(inverse.ravel()[inside], minlength=len(ids))
    means = (sums / np.maximum(counts, 1)).astype(np.float32)
    return ndimage.gaussian_filter(means[inverse] * a.brain, 0.5).astype(np.float32)


def consistency_path() -> Path:
    """The shipped consistency field (``scripts/build_template_consistency.py`` writes it)."""
    return Path(str(resources.files("voxelprompt.vision") / "data" / CONSISTENCY_FILE))


@cache
def consistency_field() -> torch.Tensor:
    """The shipped displacement (3, X, Y, Z; mm, network grid) that bends the T1 towards the label map.

    The 2009a T1 at ``q + c(q)`` looks like the label map at ``q``. It is ``scale`` (in the file's
    metadata) times the field that ``align_prior`` finds from the T1 to ``painted_labels()``.
    """
    with safe_open(str(consistency_path()), framework="pt") as f:
        return f.get_tensor("displacement_mm").float()


@cache
def moving_t1(moving: str) -> np.ndarray:
    """The moving image at 1 mm on the anatomy grid (brain only, 0..1): the 2009a T1, plain or label-consistent."""
    if moving not in MOVING:
        raise ValueError(f"moving image must be one of {', '.join(MOVING)}, not '{moving}'")
    a = anatomy()
    if moving == "icbm2009a":
        return a.t1 * a.brain
    field = consistency_field()[None]
    # 1 mm voxel j lies at network voxel (j - 0.5) / 2 (the anatomy grid starts half a millimetre earlier)
    fine = F.interpolate(field, scale_factor=2, mode="trilinear", align_corners=False)[0]
    shape = a.t1.shape
    mm = torch.stack(torch.meshgrid(*[torch.arange(n, dtype=torch.float32) for n in shape], indexing="ij")) + fine
    grid = (2 * mm / torch.tensor(shape, dtype=torch.float32)[:, None, None, None].sub(1) - 1)
    grid = grid.permute(1, 2, 3, 0).flip(-1)[None]
    warped = F.grid_sample(torch.as_tensor(a.t1)[None, None], grid, mode="bilinear", padding_mode="border",
                           align_corners=True)[0, 0]
    return (warped.numpy() * a.brain).astype(np.float32)


@cache
def _template(pool: int, moving: str = MOVING[0]) -> torch.Tensor:
    """The moving image (``moving_t1``) in the brain box, averaged onto the network grid / ``pool``."""
    t1 = torch.as_tensor(moving_t1(moving))[None, None]
    full = F.avg_pool3d(t1, 2)[0, 0][brain_box()]
    return F.avg_pool3d(full[None, None], pool)[0, 0] if pool > 1 else full


def _box(x: torch.Tensor, win: int) -> torch.Tensor:
    """Box mean over ``win`` voxels (zeros beyond the edges) along each axis of (1, C, X, Y, Z), by running sums."""
    r = win // 2
    for dim in (2, 3, 4):
        pad = [0] * 6
        pad[2 * (4 - dim)], pad[2 * (4 - dim) + 1] = r + 1, r
        sums = F.pad(x, pad).cumsum(dim)
        n = x.shape[dim]
        x = (sums.narrow(dim, win, n) - sums.narrow(dim, 0, n)) / win
    return x


class _BoxMean(torch.autograd.Function):
    """``_box`` with its own gradient. The box mean (zeros beyond the edges) is a symmetric linear map,
    so the gradient it passes back is the box mean of the gradient it receives: one more box filter,
    instead of autograd running back through the running sums (flips and copies, a third of a step)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, win: int) -> torch.Tensor:
        ctx.win = win
        return _box(x, win)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return _box(grad, ctx.win), None


def box_stats(b: torch.Tensor, win: int = WINDOW) -> torch.Tensor:
    """The local means of ``b`` and ``b * b`` (2, X, Y, Z): what ``local_ncc`` needs of an image held fixed."""
    return _BoxMean.apply(torch.stack([b, b * b])[None], win)[0]


def local_ncc(a: torch.Tensor, b: torch.Tensor, win: int = WINDOW, b_stats: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared local normalised cross-correlation of two (X, Y, Z) images (1 = identical up to contrast).

    ``b_stats``: ``box_stats(b, win)``, when ``b`` is compared many times (the scan, during an alignment).
    """
    mb, bb = box_stats(b, win) if b_stats is None else b_stats
    ma, aa, ab = _BoxMean.apply(torch.stack([a, a * a, a * b])[None], win)[0]
    cov = ab - ma * mb
    return (cov * cov / ((aa - ma * ma) * (bb - mb * mb) + 1e-5)).mean()


def _diffusion(u: torch.Tensor) -> torch.Tensor:
    return sum((torch.diff(u, dim=d) ** 2).mean() for d in (2, 3, 4))


def _repaint(template: torch.Tensor, warped: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """``template`` with each intensity bin given the mean ``image`` value it is warped onto."""
    b = (warped.reshape(-1) * (BINS - 1)).round().long().clamp(0, BINS - 1)
    y = image.reshape(-1)
    sums = torch.zeros(BINS).scatter_add_(0, b, y)
    counts = torch.zeros(BINS).scatter_add_(0, b, torch.ones_like(y))
    ok = counts >= 5
    xs = np.arange(BINS, dtype=np.float64)
    if ok.sum() < 2:
        return template
    lut = np.interp(xs, xs[ok.numpy()], (sums[ok] / counts[ok]).numpy())
    idx = (template * (BINS - 1)).round().long().clamp(0, BINS - 1)
    return torch.as_tensor(lut, dtype=torch.float32)[idx]


def _mirror_index(n: int, pool: int, start: int) -> torch.Tensor:
    """For each of ``n`` voxels along x of the brain box (pooled by ``pool``), the voxel at the mirrored MNI x (-x)."""
    x = NET_ORIGIN[0] + NET_SPACING * (start + pool * torch.arange(n) + (pool - 1) / 2)
    index = ((-x - NET_ORIGIN[0]) / NET_SPACING - start - (pool - 1) / 2) / pool
    return (index + 0.5).floor().long().clamp(0, n - 1)


def _masked_outliers(image: torch.Tensor, predicted: torch.Tensor, brain: torch.Tensor,
                     mirror: torch.Tensor) -> torch.Tensor:
    """``image`` with its one-sided outlying blobs replaced by ``predicted`` (the warped, repainted template).

    The residual is averaged over 3 voxels a side. An outlier lies more than ``OUTLIER_Z`` robust
    spreads from the residual's median within ``brain``, and differs by as much from the residual
    at the mirrored position (``mirror``: index along x), since a lesion is on one side while the
    template's anatomy differs from the scan's on both. An opening keeps blobs (a lesion) and drops
    specks and thin strands; the blobs grow by a voxel to take in their soft edges.
    """
    residual = F.avg_pool3d((image - predicted)[None, None], 3, 1, 1, count_include_pad=False)[0, 0]
    inside = residual[brain]
    if inside.numel() < 100:
        return image
    centre = inside.median()
    spread = 1.4826 * (inside - centre).abs().median().clamp_min(1e-4)
    one_sided = (residual - residual[mirror]).abs() > OUTLIER_Z * spread
    far = (((residual - centre).abs() > OUTLIER_Z * spread) & one_sided & brain)[None, None].float()
    opened = F.max_pool3d(-F.max_pool3d(-far, 3, 1, 1), 3, 1, 1)
    blobs = F.max_pool3d(opened, 3, 1, 1)[0, 0] > 0.5
    return torch.where(blobs & brain, predicted, image)


def align_prior(image: torch.Tensor, *, stages: tuple = STAGES, robust: bool = False,
                moving: str = MOVING[0]) -> Deformation:
    """Optimise the displacement that aligns the template to ``image`` (X, Y, Z on the network grid, 0..1).

    ``moving``: "label-consistent" (the T1 bent towards the label map; for reading the labels) or
    "icbm2009a" (the plain T1; the lesion network was trained on alignments of it).

    ``robust``: after the first stage, blobs of the scan that the repainted template cannot explain
    (a lesion) are replaced by the template's prediction before they are compared, so that the
    field does not bend the template's anatomy into them (cost-function masking, found afresh at
    every repainting).
    """
    start = time.perf_counter()
    if tuple(image.shape) != NET_SHAPE:
        raise ValueError(f"image must be on the network grid {NET_SHAPE}, not {tuple(image.shape)}")
    linear = torch.zeros(3, 4, requires_grad=True)  # 0.05 x matrix offset (normalised axes), translation (mm)
    u = None
    sim = torch.tensor(0.0)
    box = brain_box()
    cropped = image[box]
    for stage, (cx, cy, cz, steps, pool) in enumerate(stages):
        img = F.avg_pool3d(cropped[None, None], pool)[0, 0] if pool > 1 else cropped
        tmpl = _template(pool, moving)
        shape = img.shape
        masking = robust and stage > 0
        mirror = _mirror_index(shape[0], pool, box[0].start) if masking else None
        half = torch.tensor([(n - 1) * NET_SPACING * pool / 2 for n in shape])
        base = torch.stack(torch.meshgrid(*[torch.linspace(-1, 1, n) for n in shape], indexing="ij"), -1)
        u = torch.zeros(1, 3, cx, cy, cz) if u is None else F.interpolate(
            u.detach(), size=(cx, cy, cz), mode="trilinear", align_corners=True)
        u.requires_grad_(True)
        opt = torch.optim.Adam([u, linear], lr=LEARNING_RATE_MM)
        for step in range(steps):
            disp = F.interpolate(u, size=shape, mode="trilinear", align_corners=True)[0].permute(1, 2, 3, 0)
            pts = base + base @ (linear[:, :3] * 0.05).T + (linear[:, 3] + disp) / half
            grid = pts.flip(-1)[None]
            if step % REPAINT_EVERY == 0:
                with torch.no_grad():
                    warped = F.grid_sample(tmpl[None, None], grid, mode="bilinear", padding_mode="border",
                                           align_corners=True)[0, 0]
                    painted = _repaint(tmpl, warped, img)[None, None]
            pred = F.grid_sample(painted, grid, mode="bilinear", padding_mode="border", align_corners=True)[0, 0]
            if step % REPAINT_EVERY == 0:
                target = _masked_outliers(img, pred.detach(), warped > 0.05, mirror) if masking else img
                target_stats = box_stats(target)
            sim = local_ncc(pred, target, b_stats=target_stats)
            loss = 1 - sim + SMOOTHNESS * _diffusion(u)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        inner = F.interpolate(u, size=cropped.shape, mode="trilinear", align_corners=True)
        pad = [p for s, n in zip(reversed(box), reversed(NET_SHAPE)) for p in (s.start, n - s.stop)]
        disp = F.pad(inner, pad, mode="replicate")[0]  # constant beyond the brain box
        lo = torch.tensor([s.start for s in box], dtype=torch.float32)[:, None, None, None]
        halfs = torch.tensor([(s.stop - s.start - 1) / 2 for s in box])[:, None, None, None]
        normalised = (torch.as_tensor(np.indices(NET_SHAPE, dtype=np.float32)) - lo - halfs) / halfs
        lin = torch.einsum("ij,jxyz->ixyz", linear[:, :3] * 0.05, normalised) * halfs * NET_SPACING
        total = disp + lin + linear[:, 3][:, None, None, None]
    return Deformation(total.float(), float(sim.detach()), time.perf_counter() - start)
