"""Synthetic evaluation cases from real templates and label maps.

A case takes a real T1 template and the FreeSurfer label map (both in MNI space), moves them
identically by a random affine plus a smooth random deformation, reslices them onto a new grid
(random axis order and flips, anisotropic voxels), then changes the image's contrast (T1,
inverted, or a random intensity remapping that keeps the tissues distinguishable), adds a bias
field and noise. The ground truth is the label map moved the same way (nearest neighbour), so it
stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from voxelprompt.vision.templates import atlas_labels, template
from voxelprompt.volume import Volume, VolumeMetadata

SPACINGS = [(1.0, 1.0, 1.0), (1.2, 1.2, 1.2), (0.9, 0.9, 2.5), (1.0, 1.0, 3.0), (1.3, 1.3, 1.3), (1.5, 1.0, 1.0)]
CONTRASTS = ("t1", "inverted", "remapped")


@dataclass
class Case:
    """One evaluation case: an image, its exact label map on the same grid, and how it was made."""

    name: str
    image: Volume
    labels: Volume
    description: dict


def _rotation(angles_deg: np.ndarray) -> np.ndarray:
    rx, ry, rz = np.deg2rad(angles_deg)
    mx = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
    my = np.array([[np.cos(ry), 0, np.sin(ry)], [0, 1, 0], [-np.sin(ry), 0, np.cos(ry)]])
    mz = np.array([[np.cos(rz), -np.sin(rz), 0], [np.sin(rz), np.cos(rz), 0], [0, 0, 1]])
    return mz @ my @ mx


def _output_grid(rng: np.random.Generator, center: np.ndarray, extent_mm: np.ndarray) -> tuple[np.ndarray, tuple]:
    spacing = np.array(SPACINGS[rng.integers(len(SPACINGS))])
    perm = rng.permutation(3)
    signs = rng.choice([-1.0, 1.0], 3)
    axes = np.zeros((3, 3))
    for j in range(3):
        axes[perm[j], j] = signs[j]
    direction = _rotation(rng.uniform(-8, 8, 3)) @ axes  # slightly oblique
    extent_vox = extent_mm[perm] / spacing
    shape = tuple(int(np.ceil(n)) for n in extent_vox)
    affine = np.eye(4)
    affine[:3, :3] = direction * spacing
    affine[:3, 3] = center - affine[:3, :3] @ (np.array(shape) - 1) / 2
    return affine, shape


def _smooth_field(rng: np.random.Generator, shape: tuple, control: int, amplitude: float) -> np.ndarray:
    coarse = rng.normal(0, amplitude, (control, control, control))
    return ndimage.zoom(coarse, [s / control for s in shape], order=3)[: shape[0], : shape[1], : shape[2]]


TISSUES = {"white matter": [2, 41], "cortex": list(range(1000, 3000)), "ventricles": [4, 43]}
MIN_TISSUE_CONTRAST = 0.1  # smallest difference of tissue means (0..1 scale) a remapped contrast keeps
MAX_REMAP_DRAWS = 50


def _contrast(rng: np.random.Generator, data: np.ndarray, kind: str, labels: np.ndarray) -> np.ndarray:
    """T1 as it is, inverted, or remapped by a random piecewise-linear curve (not monotone).

    A remapped contrast is redrawn until white matter, cortex and ventricles differ by at least
    ``MIN_TISSUE_CONTRAST`` in mean intensity, as in any real MR contrast: a curve that makes the
    brain uniform would leave no anatomy to find.
    """
    head = data > 0.02 * data.max()
    x = np.clip(data / np.percentile(data[head], 99.5), 0, 1)
    if kind == "inverted":
        return np.where(head, 1.0 - x * 0.9, 0.0).astype(np.float32)
    if kind != "remapped":
        return x.astype(np.float32)
    tissues = [x[np.isin(labels, ids) & head] for ids in TISSUES.values()]
    out = x
    for _ in range(MAX_REMAP_DRAWS):
        knots = np.r_[0, np.sort(rng.uniform(0, 1, 5)), 1]
        values = rng.uniform(0.05, 1.0, 7)
        means = [float(np.interp(t, knots, values).mean()) for t in tissues if t.size]
        out = np.where(head, np.interp(x, knots, values), 0.0)
        if min(abs(a - b) for k, a in enumerate(means) for b in means[k + 1:]) >= MIN_TISSUE_CONTRAST:
            break
    return out.astype(np.float32)


def _geometry(rng: np.random.Generator, deformation_mm: float,
              rotation_deg: float) -> tuple[np.ndarray, tuple, np.ndarray, np.ndarray]:
    """The case grid (affine, shape), the template world point (3, N) of each of its voxels, and the linear part."""
    # moving world: p_template = A (p_case) + d(p_case)
    rot = _rotation(rng.uniform(-rotation_deg, rotation_deg, 3))
    scale = np.diag(rng.uniform(0.92, 1.08, 3))
    shift = rng.uniform(-8, 8, 3)
    brain_center = np.array([0.0, -18.0, 8.0])
    a_lin = rot @ scale
    out_affine, shape = _output_grid(rng, brain_center + shift, np.array([160.0, 200.0, 170.0]))
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    world = out_affine[:3, :3] @ ijk + out_affine[:3, 3:4]
    moved = a_lin @ (world - (brain_center + shift)[:, None]) + brain_center[:, None]
    control = 6
    disp = np.stack([_smooth_field(rng, shape, control, deformation_mm) for _ in range(3)]).reshape(3, -1)
    return out_affine, shape, moved + disp, a_lin


def case_geometry(seed: int, *, contrast: str | None = None, deformation_mm: float = 3.0,
                  rotation_deg: float = 12.0) -> tuple[np.ndarray, tuple, np.ndarray]:
    """The grid of ``make_case(seed, ...)`` (affine, shape) and the template world point (RAS mm, (3, N) in C
    order) that each of its voxels shows: the case's exact transform, without building its image."""
    rng = np.random.default_rng(seed)
    if contrast is None:
        rng.integers(len(CONTRASTS))  # make_case draws the contrast first
    out_affine, shape, moved, _ = _geometry(rng, deformation_mm, rotation_deg)
    return out_affine, shape, moved


def make_case(seed: int, template_name: str = "icbm2009c-brain", *, contrast: str | None = None,
              deformation_mm: float = 3.0, rotation_deg: float = 12.0) -> Case:
    """Build the case for ``seed`` from ``template_name`` and the FreeSurfer label map."""
    rng = np.random.default_rng(seed)
    tmpl = template(template_name)
    labels = atlas_labels("freesurfer")
    contrast = contrast or CONTRASTS[rng.integers(len(CONTRASTS))]
    out_affine, shape, moved, a_lin = _geometry(rng, deformation_mm, rotation_deg)
    # sample template (linear) and labels (nearest)
    moved_h = np.vstack([moved, np.ones(moved.shape[1])])
    t_vox = np.linalg.inv(tmpl.affine) @ moved_h
    img = ndimage.map_coordinates(np.asarray(tmpl.array, np.float32), t_vox[:3], order=1, cval=0.0)
    l_vox = np.linalg.inv(labels.affine) @ moved_h
    lab = ndimage.map_coordinates(np.asarray(labels.array), l_vox[:3], order=0, cval=0)
    img, lab = img.reshape(shape), lab.reshape(shape).astype(np.int16)
    img = _contrast(rng, img, contrast, lab)
    bias = np.exp(_smooth_field(rng, shape, 4, 0.15))
    noise = rng.normal(0, rng.uniform(0.01, 0.04), shape).astype(np.float32)
    img = (img * bias + noise * (img > 0)).astype(np.float32)
    desc = {"seed": seed, "template": template_name, "contrast": contrast, "shape": list(shape),
            "spacing_mm": [round(float(s), 3) for s in np.linalg.norm(out_affine[:3, :3], axis=0)],
            "deformation_mm": deformation_mm, "rotation_deg": rotation_deg,
            "case_to_template_linear": np.round(a_lin, 6).tolist()}
    name = f"{template_name}-s{seed}-{contrast}"
    meta = VolumeMetadata(source=name, modality="MR")
    return Case(name, Volume(img, out_affine, meta), Volume(lab, out_affine, VolumeMetadata(source=name)), desc)
