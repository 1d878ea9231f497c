"""The ``atlas`` engine: register a real MNI template to the subject, carry expert labels across.

One registration per image gives a map from every subject voxel to template world coordinates.
It runs in three ANTsPy stages at 3 mm: an affine with Mattes mutual information (any MRI contrast
or CT); then the template is repainted in the subject's contrast (the median subject intensity of
each template intensity bin under that affine); then SyN with local cross-correlation between the
subject and the repainted template. Cross-correlation is a much sharper deformable metric than
mutual information, and repainting makes it valid for inverted or arbitrarily remapped contrasts.
Any MNI-space atlas (FreeSurfer aparc+aseg, Neuromorphometrics, AAL, Harvard-Oxford, Juelich) is
then sampled through that map, so many concepts cost one registration. Each concept's indicator is
interpolated linearly (a soft probability) and thresholded at 0.5.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage

from voxelprompt.concepts import ConceptRef, Vocabulary, load_vocabulary
from voxelprompt.engines.base import PICTURE_MODALITIES, Engine, Prompts, Segmentation, checked_head_scan
from voxelprompt.vision.templates import PROBABILISTIC, atlas_labels, template
from voxelprompt.volume import Volume
from voxelprompt.volume.checks import require_finite

log = logging.getLogger(__name__)
LPS = np.diag([-1.0, -1.0, 1.0])
OUTSIDE = -1.0e6  # coordinate given to subject voxels that map outside the template


REPRODUCIBLE_THREADS = "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"  # "1": bit-identical registrations


def ants_registration(fixed, moving, *, seed: int, **options) -> dict:
    """``ants.registration`` with its random metric sampling really seeded by ``seed``.

    Current ANTsPy releases take the seed from ``ants.config`` and silently ignore a
    ``random_seed`` argument; earlier ones take the argument. Either way the same seed draws the
    same samples. Results are bit-identical from run to run only when ITK runs single-threaded
    (``REPRODUCIBLE_THREADS`` set to 1 before the process's first registration, as
    ``voxelprompt --deterministic`` does), because multi-threaded metric sums vary in their last bits.
    """
    import ants

    if "random_seed" in inspect.signature(ants.registration).parameters:
        return ants.registration(fixed, moving, random_seed=seed, **options)
    config = getattr(ants, "config", None)
    if config is None or not hasattr(config, "_random_seed"):
        log.warning("this ANTsPy release takes no registration seed: results may vary from run to run")
        return ants.registration(fixed, moving, **options)
    previous, config._random_seed = config._random_seed, seed
    try:
        return ants.registration(fixed, moving, **options)
    finally:
        config._random_seed = previous


def registration_is_reproducible() -> bool:
    """Whether ITK was asked to run single-threaded, so that a seeded registration repeats exactly."""
    return os.environ.get(REPRODUCIBLE_THREADS) == "1"


def to_ants(volume: Volume, data: np.ndarray | None = None):
    """An ANTsImage with ``volume``'s world geometry (ANTs, like ITK, works in LPS)."""
    import ants

    arr = np.asarray(volume.array if data is None else data, dtype=np.float32)
    spacing = np.asarray(volume.spacing, float)
    direction = LPS @ volume.affine[:3, :3] / spacing
    origin = LPS @ volume.affine[:3, 3]
    return ants.from_numpy(np.ascontiguousarray(arr), origin=tuple(origin), spacing=tuple(spacing),
                           direction=direction)


def fingerprint(volume: Volume) -> str:
    """A cheap identity of an image's grid and values, for caching its registration."""
    h = hashlib.sha1(np.asarray(volume.affine, np.float64).tobytes())
    h.update(str(volume.shape).encode())
    arr = np.ascontiguousarray(np.asarray(volume.array)[::3, ::3, ::3])
    h.update(arr.tobytes())
    return h.hexdigest()


def crop_to_foreground(image, threshold: float = 0.02, margin: int = 3):
    """``image`` cropped to the box of voxels above ``threshold`` (plus a margin): less work for SyN."""
    import ants

    arr = image.numpy()
    nz = np.argwhere(arr > threshold)
    if len(nz) == 0:
        return image
    lo = np.maximum(nz.min(0) - margin, 0)
    hi = np.minimum(nz.max(0) + margin + 1, arr.shape)
    return ants.crop_indices(image, lo.tolist(), hi.tolist())


def repaint(fixed, moving, transforms: list[str], bins: int = 64, min_count: int = 20):
    """``moving`` with its intensities mapped to the subject's contrast.

    Under the current alignment, each bin of template intensity (0..1) is given the median
    intensity of the subject voxels it lands on; bins with too few voxels are interpolated.
    """
    import ants

    warped = ants.apply_transforms(fixed, moving, transforms, interpolator="linear").numpy()
    subject = fixed.numpy()
    both = (warped > 0.02) & (subject > 0.02)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(warped[both], edges) - 1, 0, bins - 1)
    values = subject[both]
    order = np.argsort(which, kind="stable")
    groups = np.split(values[order], np.flatnonzero(np.diff(which[order])) + 1)
    present = np.unique(which)
    centres, medians = [], []
    for b, group in zip(present, groups):
        if group.size >= min_count:
            centres.append((edges[b] + edges[b + 1]) / 2)
            medians.append(float(np.median(group)))
    template_values = moving.numpy()
    if len(centres) < 2:  # no overlap to learn from: keep the template as it is
        return moving
    out = np.where(template_values > 0.02, np.interp(template_values, centres, medians), 0.0)
    return moving.new_image_like(out.astype(np.float32))


def normalise_intensity(data: np.ndarray) -> np.ndarray:
    """Robust 0..1 scaling (0.5th-99.5th percentile of the non-zero voxels)."""
    values = data[data != 0] if np.count_nonzero(data) > 0.05 * data.size else data.ravel()
    lo, hi = np.percentile(values, [0.5, 99.5])
    return np.clip((data - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


@lru_cache(maxsize=64)
def _indicator_box(atlas: str, ids: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """A concept's indicator (0..1) cropped around it, the crop's offset, and the atlas box it occupies.

    The crop keeps two voxels of margin beyond the box, so linear interpolation anywhere in the box
    reads the same values as it would in the whole map. None where the atlas has none of ``ids``.
    """
    labels = atlas_labels(atlas)
    data = np.asarray(labels.array)
    if atlas in PROBABILISTIC:
        indicator = np.clip(data[..., list(ids)].astype(np.float32).sum(-1) / 100.0, 0, 1)
    else:
        indicator = np.isin(data, ids).astype(np.float32)
    if not indicator.any():
        return None
    box = ndimage.find_objects((indicator > 0).astype(np.int8))[0]
    lo = np.array([s.start for s in box]) - 1
    hi = np.array([s.stop for s in box])
    start = np.maximum(lo - 1, 0)
    stop = np.minimum(hi + 2, indicator.shape[:3])
    crop = indicator[tuple(slice(a, b) for a, b in zip(start, stop))].copy()
    return crop, start.astype(np.float32), lo, hi


@dataclass
class _Registration:
    world_map: np.ndarray  # (X, Y, Z, 3) template world (RAS mm) of every subject voxel
    template: str
    seconds: float
    transform: str
    metric: str
    atlas_voxels: dict[str, np.ndarray] = field(default_factory=dict)  # per atlas, NaN outside
    slice_ranges: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)  # per atlas

    def voxels_in(self, atlas: str, affine: np.ndarray) -> np.ndarray:
        """Voxel coordinates in ``atlas`` (grid ``affine``) of every subject voxel, computed once."""
        if atlas not in self.atlas_voxels:
            inv = np.linalg.inv(affine).astype(np.float32)
            self.atlas_voxels[atlas] = self.world_map @ inv[:3, :3].T + inv[:3, 3]
        return self.atlas_voxels[atlas]

    def subject_box(self, atlas: str, affine: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, ...] | None:
        """The subject voxels that can map into the atlas box ``lo``..``hi`` (atlas voxels), as slices.

        Per subject axis, every slice's smallest and largest atlas coordinate (computed once per
        atlas) rules out the slices that cannot reach the box; what is left bounds every voxel
        that does, so testing only the voxels in these slices loses none. None: no voxel can.
        """
        vox = self.voxels_in(atlas, affine)
        if atlas not in self.slice_ranges:
            others = [tuple(a for a in range(3) if a != axis) for axis in range(3)]
            # fmin and fmax skip NaN (outside the template); an all-NaN slice stays NaN and reaches no box
            self.slice_ranges[atlas] = [(np.fmin.reduce(vox, axis=o), np.fmax.reduce(vox, axis=o)) for o in others]
        box = []
        for low, high in self.slice_ranges[atlas]:
            reach = np.flatnonzero(np.all((high >= lo) & (low <= hi), axis=-1))
            if not reach.size:
                return None
            box.append(slice(int(reach[0]), int(reach[-1]) + 1))
        return tuple(box)


class AtlasEngine(Engine):
    """Registration-based segmentation of every concept the MNI atlases define."""

    name = "atlas"

    def __init__(self, *, template: str = "icbm2009a", deformable: bool = True, resolution_mm: float = 3.0,
                 iterations: tuple[int, ...] = (60, 40, 15), cc_radius: int = 1, seed: int = 1,
                 vocabulary: Vocabulary | None = None, cache_size: int = 4) -> None:
        self.template_name = template
        self.deformable = deformable
        self.iterations = iterations
        self.cc_radius = cc_radius
        self.resolution_mm = resolution_mm
        self.seed = seed
        self.vocabulary = vocabulary or load_vocabulary()
        self._cache: OrderedDict[str, _Registration] = OrderedDict()
        self._cache_size = cache_size

    # -- protocol -------------------------------------------------------------------------------
    def why_not(self, concept: ConceptRef, modality: str | None) -> str:
        c = concept.concept
        if c.kind == "pathology":
            return "atlases hold normal anatomy; a pathology needs a lesion-capable engine"
        if c.region != "brain":
            return f"'{c.name}' is outside the brain; the atlases cover the brain only"
        if not self.vocabulary.atlases_for(concept):
            return f"no installed atlas defines '{concept.name}'"
        if modality in PICTURE_MODALITIES:
            return f"the atlas engine needs a 3D head scan, not {modality}"
        return ""

    def segment(self, volumes: list[Volume], concept: ConceptRef, prompts: Prompts | None = None) -> Segmentation:
        image = checked_head_scan(self, volumes, [concept], "ask for an anatomical brain structure")
        start = time.perf_counter()
        reg = self.register(image)
        atlas = self.vocabulary.atlases_for(concept)[0]
        ids = self.vocabulary.labels(concept, atlas)
        prob = self._sample_indicator(reg, atlas, ids)
        mask = prob >= 0.5
        present = bool(mask.any())
        grid = image.with_array(mask, channel_names=None, intensity_unit="label")
        probability = image.with_array(prob.astype(np.float32), channel_names=None, intensity_unit="1")
        confidence = float(prob[mask].mean()) if present else 0.0
        provenance = {"template": reg.template, "atlas": atlas, "labels": ids,
                      "transform": reg.transform, "metric": reg.metric,
                      "bit_reproducible": registration_is_reproducible(),
                      "registration_seconds": round(reg.seconds, 2),
                      "seconds": round(time.perf_counter() - start, 2)}
        return Segmentation(grid, concept, self.name, present, probability, confidence, provenance)

    def label_map(self, volumes: list[Volume]) -> Volume:
        """The FreeSurfer aparc+aseg labels carried onto ``volumes[0]``'s grid (nearest label)."""
        image = volumes[0]
        reg = self.register(image)
        labels = atlas_labels("freesurfer")
        vox = reg.voxels_in("freesurfer", labels.affine)
        inside = np.all(np.isfinite(vox), axis=-1)
        out = np.zeros(reg.world_map.shape[:3], np.int32)
        out[inside] = ndimage.map_coordinates(np.asarray(labels.array), vox[inside].T, order=0, mode="constant")
        return image.with_array(out, channel_names=None, intensity_unit="label")

    # -- registration ---------------------------------------------------------------------------
    def register(self, image: Volume) -> _Registration:
        """Register the template to ``image`` (cached per image)."""
        key = fingerprint(image)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        import ants

        start = time.perf_counter()
        data = normalise_intensity(require_finite(image, "image").astype(np.float32))
        tmpl = template(self.template_name)
        tmpl_data = normalise_intensity(np.asarray(tmpl.array, np.float32))
        res = (self.resolution_mm,) * 3
        fixed_full = to_ants(image, data)
        fixed = crop_to_foreground(ants.resample_image(fixed_full, res, False, 1))
        moving = ants.resample_image(to_ants(tmpl, tmpl_data), res, False, 1)
        with tempfile.TemporaryDirectory(prefix="voxelprompt-reg-") as tmp:
            affine = ants_registration(fixed, moving, type_of_transform="Affine", aff_metric="mattes",
                                       seed=self.seed, outprefix=f"{tmp}/affine_")["fwdtransforms"]
            transforms, kind, metric = affine, "affine", "mattes"
            if self.deformable:
                painted = repaint(fixed, moving, affine)
                syn = ants_registration(fixed, painted, type_of_transform="SyNOnly", initial_transform=affine[0],
                                        syn_metric="CC", syn_sampling=self.cc_radius,
                                        reg_iterations=self.iterations, seed=self.seed,
                                        outprefix=f"{tmp}/syn_")
                transforms = [syn["fwdtransforms"][0], *affine]
                kind, metric = "affine+SyN", f"mattes (affine), CC radius {self.cc_radius} on repainted template (SyN)"
            world_map = self._world_map(fixed_full, tmpl, transforms)
        result = _Registration(world_map, self.template_name, time.perf_counter() - start, kind, metric)
        log.info("registered %s template in %.1f s", result.template, result.seconds)
        self._cache[key] = result
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    @staticmethod
    def _world_map(fixed_full, tmpl: Volume, transforms: list[str]) -> np.ndarray:
        """Template world coordinates (RAS) of every subject voxel, by warping coordinate images."""
        import ants

        ijk = np.indices(tmpl.shape, dtype=np.float32)
        coords = []
        for axis in range(3):
            world = sum(tmpl.affine[axis, j] * ijk[j] for j in range(3)) + tmpl.affine[axis, 3]
            moving = to_ants(tmpl, world.astype(np.float32))
            warped = ants.apply_transforms(fixed_full, moving, transforms, interpolator="linear",
                                           defaultvalue=OUTSIDE)
            coords.append(warped.numpy().astype(np.float32))
        out = np.stack(coords, axis=-1)
        out[np.any(out <= OUTSIDE / 2, axis=-1)] = np.nan  # outside the template's field of view
        return out

    # -- sampling atlases -----------------------------------------------------------------------
    @staticmethod
    def _sample_indicator(reg: _Registration, atlas: str, ids: list[int]) -> np.ndarray:
        """Linear interpolation of the concept's indicator at every subject voxel (0..1)."""
        out = np.zeros(reg.world_map.shape[:3], np.float32)
        found = _indicator_box(atlas, tuple(ids))
        if found is None:
            return out
        indicator, offset, lo, hi = found
        affine = atlas_labels(atlas).affine
        box = reg.subject_box(atlas, affine, lo, hi)
        if box is None:
            return out
        vox = reg.voxels_in(atlas, affine)[box]
        inside = np.all((vox >= lo) & (vox <= hi), axis=-1)  # False where NaN (outside the template)
        if inside.any():
            part = out[box]  # a view: writing it writes ``out``
            part[inside] = ndimage.map_coordinates(indicator, (vox[inside] - offset).T, order=1, mode="constant",
                                                   cval=0.0)
        return out
