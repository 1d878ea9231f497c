"""SynthSeg-style training volumes from a real label map, on the network's grid.

The 3D network works on a fixed 2 mm grid in MNI space: the engine aligns each scan to a template
by an affine registration first, so what is left for the network is the residual shape, contrast
and pathology. Each sample here is drawn on that grid:

- the FreeSurfer label map (and the ICBM 2009a T1 that is its template, never an evaluation template)
  moved by a small random affine (registration error) and a smooth random deformation;
- an image either from the real T1, remapped to a random contrast (inverted, piecewise-linear,
  gamma), or SynthSeg-style from the labels, each label its own random intensity;
- synthetic pathology painted in with its own labels: white-matter lesions of many shapes,
  tumours with necrosis, an enhancing rim and oedema, cortical infarcts;
- scanner effects: a smooth bias field, blur and thick slices along a random axis, noise;
- sometimes a second co-registered contrast of the same anatomy (a second input channel).

Targets are soft masks (trilinear samples of each concept's 1 mm indicator).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from voxelprompt.vision.concepts3d import EDEMA, ENHANCING, INFARCT, NECROSIS, WM_LESION, TrainingConcept
from voxelprompt.vision.templates import atlas_labels, template

NET_SHAPE = (80, 96, 80)
NET_SPACING = 2.0
NET_ORIGIN = (-78.0, -114.0, -76.0)  # RAS mm of voxel (0, 0, 0); covers the label map with margin
SOURCE_SPACING = 1.0
WM_IDS = (2, 41)
CORTEX_RANGE = (1000, 3000)
DEEP_GREY_IDS = (10, 11, 12, 13, 49, 50, 51, 52)  # thalamus, caudate, putamen, pallidum
IN_CHANNELS = 7  # image, second image, box, points, x, y, z (MNI mm / 100)


def net_affine() -> np.ndarray:
    """Voxel-to-RAS affine of the network grid (axis-aligned, 2 mm)."""
    a = np.eye(4)
    a[:3, :3] *= NET_SPACING
    a[:3, 3] = NET_ORIGIN
    return a


def coordinate_channels(shape: tuple[int, int, int] = NET_SHAPE) -> np.ndarray:
    """MNI coordinates of every network voxel, / 100 (3, X, Y, Z)."""
    ijk = np.indices(shape, dtype=np.float32)
    return np.stack([(NET_ORIGIN[a] + NET_SPACING * ijk[a]) / 100.0 for a in range(3)]).astype(np.float32)


@dataclass
class Anatomy:
    """The real label map and T1 on a 1 mm RAS grid around the network grid."""

    labels: np.ndarray  # int16 (X, Y, Z)
    t1: np.ndarray  # float32 0..1, with skull
    brain: np.ndarray  # bool
    origin: np.ndarray  # RAS of voxel (0, 0, 0)

    def to_grid(self, world: torch.Tensor) -> torch.Tensor:
        """grid_sample coordinates ([-1, 1], last axis (z, y, x) order) of RAS points (..., 3)."""
        shape = torch.tensor(self.labels.shape, dtype=world.dtype)
        vox = (world - torch.as_tensor(self.origin, dtype=world.dtype)) / SOURCE_SPACING
        norm = 2 * vox / (shape - 1) - 1
        return norm.flip(-1)


def _resample_onto(volume_data: np.ndarray, affine: np.ndarray, shape, origin, order: int) -> np.ndarray:
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    world = ijk * SOURCE_SPACING + np.asarray(origin, np.float32)[:, None]
    inv = np.linalg.inv(affine)
    vox = inv[:3, :3] @ world + inv[:3, 3:4]
    return ndimage.map_coordinates(volume_data, vox, order=order, cval=0).reshape(shape)


@cache
def anatomy() -> Anatomy:
    """The training anatomy: FreeSurfer aparc+aseg of cvs_avg35 and the ICBM 2009a symmetric T1."""
    shape = tuple(int(n * NET_SPACING / SOURCE_SPACING) for n in NET_SHAPE)
    origin = np.asarray(NET_ORIGIN) - (NET_SPACING - SOURCE_SPACING) / 2
    lab = atlas_labels("freesurfer")
    labels = _resample_onto(np.asarray(lab.array).astype(np.int16), lab.affine, shape, origin, 0).astype(np.int16)
    t1v = template("icbm2009a")
    t1 = _resample_onto(np.asarray(t1v.array, np.float32), t1v.affine, shape, origin, 1).astype(np.float32)
    t1 = np.clip(t1 / np.percentile(t1[t1 > 0.05 * t1.max()], 99.5), 0, 1).astype(np.float32)
    tissue = labels > 0
    brain = ndimage.binary_fill_holes(ndimage.binary_closing(ndimage.binary_dilation(tissue, iterations=2),
                                                             iterations=3))
    return Anatomy(labels, t1, brain, origin)


def present_ids() -> set[int]:
    """Label ids that occur in the training label map with at least 20 voxels."""
    ids, counts = np.unique(anatomy().labels, return_counts=True)
    return {int(i) for i, n in zip(ids, counts) if n >= 20}


# -- random fields ------------------------------------------------------------------------------
def smooth_field(rng: np.random.Generator, shape, control: int, amplitude: float, channels: int = 1) -> torch.Tensor:
    """A smooth random field (channels, *shape): coarse Gaussian noise, upsampled cubically-ish."""
    coarse = torch.as_tensor(rng.normal(0, amplitude, (1, channels, control, control, control)), dtype=torch.float32)
    return F.interpolate(coarse, size=tuple(shape), mode="trilinear", align_corners=True)[0]


def rotation(angles_deg) -> np.ndarray:
    rx, ry, rz = np.deg2rad(angles_deg)
    mx = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
    my = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
    mz = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
    return mz @ my @ mx


def sample_grid(rng: np.random.Generator, deformation_mm: float, shape=NET_SHAPE) -> torch.Tensor:
    """Source RAS mm of every network voxel under a random residual affine and smooth deformation."""
    coords = torch.as_tensor(coordinate_channels(shape) * 100.0)  # (3, X, Y, Z)
    centre = torch.tensor([0.0, -18.0, 8.0])[:, None, None, None]
    lin = rotation(rng.uniform(-4, 4, 3)) @ np.diag(rng.uniform(0.96, 1.04, 3))
    moved = torch.einsum("ij,jxyz->ixyz", torch.as_tensor(lin, dtype=torch.float32), coords - centre) + centre
    moved = moved + torch.as_tensor(rng.uniform(-3, 3, 3), dtype=torch.float32)[:, None, None, None]
    amp = rng.uniform(0, deformation_mm)
    moved = moved + smooth_field(rng, shape, int(rng.integers(4, 9)), amp, channels=3)
    return moved.permute(1, 2, 3, 0)  # (X, Y, Z, 3)


def _sample(volume: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample (C, X, Y, Z) at grid (X, Y, Z, 3) -> (C, X, Y, Z)."""
    return F.grid_sample(volume[None], grid[None], mode=mode, padding_mode="zeros", align_corners=True)[0]


# -- contrasts ----------------------------------------------------------------------------------
def random_remap(rng: np.random.Generator, x: torch.Tensor) -> torch.Tensor:
    """A random contrast of a 0..1 image: as is, inverted, piecewise linear (not monotone), or gamma."""
    kind = rng.choice(["t1", "inverted", "remapped", "remapped", "gamma"])
    if kind == "inverted":
        return 1.0 - 0.9 * x
    if kind == "gamma":
        return x ** float(np.exp(rng.normal(0, 0.5)))
    if kind == "remapped":
        knots = np.r_[0, np.sort(rng.uniform(0, 1, int(rng.integers(3, 7)))), 1]
        values = rng.uniform(0.05, 1.0, len(knots))
        xs = torch.as_tensor(knots, dtype=torch.float32)
        ys = torch.as_tensor(values, dtype=torch.float32)
        idx = torch.clamp(torch.searchsorted(xs, x.contiguous()) - 1, 0, len(knots) - 2)
        t = (x - xs[idx]) / (xs[idx + 1] - xs[idx]).clamp_min(1e-6)
        return ys[idx] + t * (ys[idx + 1] - ys[idx])
    return x


def label_contrast(rng: np.random.Generator, labels: torch.Tensor, brain: torch.Tensor) -> torch.Tensor:
    """SynthSeg: each label its own random mean and spread; unlabelled brain gets a CSF value."""
    ids, inverse = torch.unique(labels, return_inverse=True)
    means = torch.as_tensor(rng.uniform(0.05, 1.0, len(ids)), dtype=torch.float32)
    spreads = torch.as_tensor(rng.uniform(0.0, 0.06, len(ids)), dtype=torch.float32)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    img = means[inverse] + spreads[inverse] * torch.randn(labels.shape, generator=gen)
    csf = float(rng.uniform(0.05, 1.0))
    img = torch.where((labels == 0) & brain, torch.full_like(img, csf), img)
    return torch.where(brain | (labels > 0), img, torch.zeros_like(img))


# -- pathology ----------------------------------------------------------------------------------
def blob(rng: np.random.Generator, shape, centre, radii_vox, roughness: float) -> np.ndarray:
    """An irregular blob: an ellipsoid whose surface is perturbed by smooth noise."""
    r = np.asarray(radii_vox, float)
    lo = np.maximum(np.floor(centre - 1.6 * r).astype(int), 0)
    hi = np.minimum(np.ceil(centre + 1.6 * r).astype(int) + 1, shape)
    out = np.zeros(shape, bool)
    if np.any(hi <= lo):
        return out
    sub = tuple(hi - lo)
    grid = np.indices(sub, dtype=np.float32)
    d2 = sum(((grid[a] + lo[a] - centre[a]) / max(r[a], 0.5)) ** 2 for a in range(3))
    noise = smooth_field(rng, sub, 4, roughness)[0].numpy()
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = np.sqrt(d2) + noise < 1.0
    return out


def _pick(rng: np.random.Generator, where: np.ndarray) -> np.ndarray | None:
    idx = np.flatnonzero(where)
    if idx.size == 0:
        return None
    return np.array(np.unravel_index(rng.choice(idx), where.shape), float)


def pathology(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Synthetic pathology labels (0 or a pathology id) on the network grid, given the anatomy there."""
    out = np.zeros(labels.shape, np.int16)
    wm = np.isin(labels, WM_IDS)
    cortex = (labels >= CORTEX_RANGE[0]) & (labels < CORTEX_RANGE[1])
    hemispheres = wm | cortex | np.isin(labels, DEEP_GREY_IDS)
    kind = rng.choice(["wm", "tumor", "infarct"], p=[0.5, 0.3, 0.2])
    if kind == "wm":
        for _ in range(int(rng.integers(1, 7))):
            c = _pick(rng, ndimage.binary_erosion(wm, iterations=1))
            if c is None:
                break
            r = rng.uniform(1.0, 5.0) * rng.uniform(0.6, 1.4, 3)  # 2-10 mm radii
            out[blob(rng, labels.shape, c, r, 0.3) & (wm | (out > 0))] = WM_LESION
    elif kind == "tumor":
        c = _pick(rng, ndimage.binary_erosion(hemispheres, iterations=4))
        if c is not None:
            r = rng.uniform(3.0, 11.0) * rng.uniform(0.75, 1.25, 3)  # 6-22 mm core radius
            core = blob(rng, labels.shape, c, r, 0.35)
            edema = blob(rng, labels.shape, c, r * rng.uniform(1.3, 2.0), 0.5) & hemispheres
            out[edema] = EDEMA
            out[core] = ENHANCING
            if rng.random() < 0.7:
                out[ndimage.binary_erosion(core, iterations=int(rng.integers(1, 3)))] = NECROSIS
    else:
        c = _pick(rng, cortex)
        if c is not None:
            r = rng.uniform(2.0, 8.0) * rng.uniform(0.6, 1.4, 3)
            out[blob(rng, labels.shape, c, r, 0.4) & (cortex | wm)] = INFARCT
    return out


def paint_pathology(rng: np.random.Generator, image: torch.Tensor, lesions: np.ndarray,
                    brain: np.ndarray) -> torch.Tensor:
    """Give each pathology label an intensity that stands out from the brain around it."""
    if not lesions.any():
        return image
    img = image.clone()
    ref = float(np.median(img.numpy()[brain & (lesions == 0)])) if (brain & (lesions == 0)).any() else 0.5
    for lid in np.unique(lesions[lesions > 0]):
        where = torch.as_tensor(lesions == lid)
        sign = 1.0 if ref < 0.3 else (-1.0 if ref > 0.8 else rng.choice([-1.0, 1.0]))
        value = float(np.clip(ref + sign * rng.uniform(0.2, 0.6), 0.02, 1.2))
        mix = float(rng.uniform(0.6, 1.0))  # partially keep the underlying texture
        img[where] = mix * value + (1 - mix) * img[where]
    return img


# -- scanner effects ----------------------------------------------------------------------------
def scanner(rng: np.random.Generator, image: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """Bias field, blur with thick slices along a random axis, noise; then 0..1 scaling."""
    x = image * torch.exp(smooth_field(rng, image.shape, 4, rng.uniform(0, 0.25))[0])
    sigmas = np.full(3, rng.uniform(0.0, 0.6))  # in 2 mm voxels
    if rng.random() < 0.6:
        sigmas[rng.integers(3)] = rng.uniform(0.4, 1.4)  # 1.5-6 mm thick slices
    x = torch.as_tensor(ndimage.gaussian_filter(x.numpy(), sigmas))
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    x = x + torch.randn(x.shape, generator=gen) * float(rng.uniform(0, 0.05)) * head
    return normalise(x * head)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """Robust 0..1 scaling of an image (0.5th-99.5th percentile of its non-zero voxels)."""
    values = x[x != 0]
    if values.numel() < 100:
        return x.clamp(0, 1)
    sample = values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))[:200000]]
    lo, hi = torch.quantile(sample, torch.tensor([0.005, 0.995]))
    return ((x - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1) * (x != 0)


# -- one sample ---------------------------------------------------------------------------------
@dataclass
class Sample3D:
    inputs: torch.Tensor  # (IN_CHANNELS, X, Y, Z)
    targets: torch.Tensor  # (N, X, Y, Z) soft masks of the sampled concepts
    present: torch.Tensor  # (N,) 1 where the concept is in the volume
    concepts: list[TrainingConcept]


def indicator(ids: tuple[int, ...], labels: np.ndarray) -> np.ndarray:
    lut = np.zeros(max(max(ids), int(labels.max())) + 1, bool)
    lut[list(ids)] = True
    return lut[labels]


def make_sample(rng: np.random.Generator, concepts: list[TrainingConcept], *, deformation_mm: float = 4.5,
                p_pathology: float = 0.5, p_second: float = 0.2, p_prompt: float = 0.1,
                p_label_contrast: float = 0.5) -> Sample3D:
    """One training volume on the network grid with soft targets for ``concepts``.

    ``p_label_contrast`` of the images are SynthSeg-style (every label its own intensity); the others
    are the real T1 under a random contrast, where tissue keeps its real texture and pathology stands
    out from it as it does in a scan.
    """
    anat = anatomy()
    grid = anat.to_grid(sample_grid(rng, deformation_mm))
    lab_t = torch.as_tensor(anat.labels.astype(np.float32))[None]
    labels = _sample(lab_t, grid, "nearest")[0].round().to(torch.int32)
    brain = _sample(torch.as_tensor(anat.brain.astype(np.float32))[None], grid)[0] > 0.5
    labels_np = labels.numpy()
    lesions = pathology(rng, labels_np) if rng.random() < p_pathology else np.zeros(labels_np.shape, np.int16)
    t1 = _sample(torch.as_tensor(anat.t1)[None], grid)[0]
    keep_skull = rng.random() < 0.2
    head = (t1 > 0.03) if keep_skull else brain

    def one_contrast() -> torch.Tensor:
        if rng.random() < 1.0 - p_label_contrast:
            img = random_remap(rng, t1.clamp(0, 1)) * head
        else:
            img = label_contrast(rng, labels, brain)
            img = torch.as_tensor(ndimage.gaussian_filter(img.numpy(), rng.uniform(0.3, 0.8)))
        img = paint_pathology(rng, img, lesions, brain.numpy())
        return scanner(rng, img, head.float())

    first = one_contrast()
    second = one_contrast() if rng.random() < p_second else torch.zeros_like(first)
    targets, present = [], []
    for c in concepts:
        if c.kind == "pathology":
            t = torch.as_tensor(indicator(c.ids, lesions.astype(np.int32)).astype(np.float32))
            t = torch.as_tensor(ndimage.gaussian_filter(t.numpy(), 0.4)) if t.any() else t
        else:
            ind = torch.as_tensor(indicator(c.ids, anat.labels).astype(np.float32))[None]
            t = _sample(ind, grid)[0]
        targets.append(t)
        present.append(float((t > 0.5).sum() >= 3))
    box = torch.zeros_like(first)
    points = torch.zeros_like(first)
    if len(concepts) == 1 and present[0] and rng.random() < p_prompt:
        box, points = prompt_channels(rng, targets[0] > 0.5)
    inputs = torch.cat([first[None], second[None], box[None], points[None],
                        torch.as_tensor(coordinate_channels())], 0)
    return Sample3D(inputs.float(), torch.stack(targets).float(), torch.tensor(present), concepts)


def prompt_channels(rng: np.random.Generator, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A loose box around ``mask`` and a few points inside it, as input channels."""
    idx = torch.nonzero(mask)
    lo, hi = idx.min(0).values, idx.max(0).values + 1
    pad = torch.as_tensor(rng.integers(0, 4, 3))
    lo, hi = (lo - pad).clamp_min(0), torch.minimum(hi + pad, torch.tensor(mask.shape))
    box = torch.zeros(mask.shape)
    box[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 1
    points = torch.zeros(mask.shape)
    for k in rng.choice(len(idx), min(len(idx), int(rng.integers(0, 3))), replace=False):
        points[tuple(idx[k])] = 1
    return box, points


# -- atlas priors -------------------------------------------------------------------------------
PRIOR_SIGMA_VOX = 1.0  # smoothing of the prior on the 2 mm grid
PRIOR_CLAMP = 6.0
_PRIORS: dict[tuple[int, ...], torch.Tensor] = {}


def prior_logits(ids: tuple[int, ...]) -> torch.Tensor:
    """The atlas prior of a union of FreeSurfer ids on the network grid, as clamped logits.

    The 1 mm indicator is averaged into 2 mm voxels, smoothed (sigma 2 mm) and turned into logits.
    Ids the label map does not hold (pathology, new concepts) give zeros. Cached per id set.
    """
    key = tuple(sorted(ids))
    if key not in _PRIORS:
        labels = anatomy().labels
        if not any(i <= labels.max() for i in key) or not np.isin(labels, key).any():
            _PRIORS[key] = torch.zeros(NET_SHAPE)
        else:
            ind = torch.as_tensor(indicator(key, labels).astype(np.float32))[None, None]
            frac = F.avg_pool3d(ind, 2)[0, 0].numpy()
            p = np.clip(ndimage.gaussian_filter(frac, PRIOR_SIGMA_VOX), 1e-4, 1 - 1e-4)
            _PRIORS[key] = torch.as_tensor(np.clip(np.log(p / (1 - p)), -PRIOR_CLAMP, PRIOR_CLAMP)).float()
    return _PRIORS[key]
