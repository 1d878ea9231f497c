"""The ``net`` engine: the language-conditioned 3D network on an affinely aligned scan.

Per scan, once: an affine registration to the MNI template (``engines.affine``), the scan (and a
second co-registered scan, if given) resampled onto the network's 2 mm MNI grid, and one pass of
the network's encoder-decoder. Per concept: a query-voxel product (milliseconds), a presence
score, and the probability carried back onto the scan's own grid through the same affine, then
thresholded at 0.5. A concept without an atlas prior (pathology, fine-tuned concepts) that the
presence score calls absent gets an empty mask and ``present=False``.

A concept the FreeSurfer label map defines (anatomy) is read from the atlas prior itself once
that prior has been aligned deformably to this scan at test time (``vision.deform3d``: a smooth
displacement on the network grid, optimised by local cross-correlation against the template
repainted in the scan's contrast; the template is the 2009a T1 bent towards the label map's own
anatomy, ``deform3d.moving_t1``). The 1 mm label map is sampled through the affine and that
displacement at every voxel of the scan, so the mask has the scan's resolution, not the network's
2 mm. The CPU-trained network adds nothing measurable over its prior for anatomy, so it is not
used there; ``deformable=False`` restores the network readout for every concept.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from voxelprompt.concepts import ConceptRef, load_vocabulary
from voxelprompt.engines.affine import TemplateAffine, register_affine
from voxelprompt.engines.atlas import (
    AtlasEngine,
    _Registration,
    fingerprint,
    normalise_intensity,
    registration_is_reproducible,
)
from voxelprompt.engines.base import PICTURE_MODALITIES, Engine, Prompts, Segmentation, checked_head_scan
from voxelprompt.engines.finetuned import finetuned_weights
from voxelprompt.engines.residual import lesion_channels
from voxelprompt.vision.deform3d import MOVING, align_prior
from voxelprompt.vision.lesion_candidates import SHIPPED_JUDGE, shipped_judge
from voxelprompt.vision.lesion_outline import EXPECTED_WEIGHT, outline_on_scan_grid
from voxelprompt.vision.lesion_residual import CHANNELS, VOXEL_ML, from_working_grid, normalise_scan
from voxelprompt.vision.lesionnet import SHIPPED_LESION, LoadedLesionNet, shipped_lesionnet
from voxelprompt.vision.synth3d import (
    NET_SHAPE,
    coordinate_channels,
    net_affine,
    normalise,
    prior_logits,
)
from voxelprompt.vision.weights3d import LoadedNet3D, load_net3d, shipped_weights3d
from voxelprompt.volume import Volume
from voxelprompt.volume.checks import require_finite

PREFERENCE_FILE = "textnet3d-preference.json"
LESION_CONCEPTS = ("lesion",)  # answered by the lesion network (vision.lesionnet) when its weights are installed
LESION_MOVING = "icbm2009a"  # the moving image of the alignments the lesion network was trained on


@dataclass
class _Encoded:
    affine: TemplateAffine
    features: torch.Tensor  # (1, D, X, Y, Z) on the network grid
    seconds: float


def _sample_onto(volume: Volume, data: np.ndarray, net_to_scan_world: np.ndarray) -> torch.Tensor:
    """``data`` (on ``volume``'s grid) sampled at every network voxel (trilinear, 0 outside)."""
    matrix = np.linalg.inv(volume.affine) @ net_to_scan_world @ net_affine()
    net_vox = torch.as_tensor(np.indices(NET_SHAPE, dtype=np.float32))
    m = torch.as_tensor(matrix, dtype=torch.float32)
    src = torch.einsum("ij,jxyz->ixyz", m[:3, :3], net_vox) + m[:3, 3][:, None, None, None]
    shape = torch.tensor(data.shape, dtype=torch.float32)[:, None, None, None]
    grid = (2 * src / (shape - 1).clamp_min(1) - 1).permute(1, 2, 3, 0).flip(-1)
    vol = torch.as_tensor(np.ascontiguousarray(data, np.float32))[None, None]
    return F.grid_sample(vol, grid[None], mode="bilinear", padding_mode="zeros", align_corners=True)[0, 0]


class NetEngine(Engine):
    """Segmentation by the shipped (or given) 3D network, for anatomy and pathology it was trained on."""

    name = "net"

    def __init__(self, weights: Path | None = None, *, threshold: float = 0.5, presence_threshold: float = 0.5,
                 cache_size: int = 2, free_text: bool = False, deformable: bool = True) -> None:
        self.weights = weights
        self.deformable = deformable  # align the atlas prior deformably at test time (vision.deform3d)
        self._deformed: OrderedDict[str, _Registration] = OrderedDict()
        self.free_text = free_text  # also take concepts the network never saw, by their sentence embedding
        self.vocabulary = load_vocabulary()
        self.threshold = threshold
        self.presence_threshold = presence_threshold
        self._cache: OrderedDict[str, _Encoded] = OrderedDict()
        self._cache_size = cache_size
        self._models: dict[str, LoadedNet3D] = {}
        self._affines: dict[str, TemplateAffine] = {}

    @cached_property
    def model(self) -> LoadedNet3D:
        return self._load(self.weights or shipped_weights3d())

    def _load(self, path: Path) -> LoadedNet3D:
        key = str(path)
        if key not in self._models:
            self._models[key] = load_net3d(path)
        return self._models[key]

    def model_for(self, name: str) -> tuple[LoadedNet3D, str]:
        """The network for concept ``name``: weights fine-tuned for it, else the engine's weights."""
        tuned = finetuned_weights(name, kind="3d") if self.weights is None else None
        if tuned is not None:
            return self._load(tuned), str(tuned)
        return self.model, str(self.weights or "shipped")

    def knows(self, name: str) -> bool:
        if self.free_text or name in self.model.concepts:
            return True
        return self.weights is None and finetuned_weights(name, kind="3d") is not None

    @cached_property
    def validation(self) -> dict:
        """What ``voxelprompt eval`` measured for the shipped weights (nothing for other weights)."""
        path = (self.weights or shipped_weights3d()).with_name(PREFERENCE_FILE)
        if self.weights is not None or not path.exists():
            return {}
        return json.loads(path.read_text())

    @property
    def preferred(self) -> set[str]:
        """Structures for which ``voxelprompt eval`` found this network better than the atlas engine."""
        return set(self.validation.get("net_preferred", []))

    # -- protocol -------------------------------------------------------------------------------
    def available(self) -> bool:
        return (self.weights or shipped_weights3d()).exists()

    def why_not(self, concept: ConceptRef, modality: str | None) -> str:
        if not self.available():
            return "no network weights are installed"
        if modality in PICTURE_MODALITIES:
            return f"the network segments 3D head scans, not {modality}"
        if not self.knows(concept.name):
            return f"the network was not trained on '{concept.name}'"
        return ""

    def prefers(self, concept: ConceptRef) -> bool:
        """Whether the router should try this engine before the others for ``concept``.

        The lesion check (``pathology_validated``) measures the lesion network on "lesion", so it
        vouches for the concepts that network answers, not for every pathology: a tumour part would
        be read out by the concept network, which that check never scored.
        """
        pathology_ok = (concept.concept.kind == "pathology" and bool(self.validation.get("pathology_validated"))
                        and self._lesion_net_for(concept) is not None)
        taught = self.weights is None and finetuned_weights(concept.name, kind="3d") is not None
        return self.available() and self.knows(concept.name) and (
            pathology_ok or taught or concept.name in self.preferred)

    def segment(self, volumes: list[Volume], concept: ConceptRef, prompts: Prompts | None = None) -> Segmentation:
        return self.segment_many(volumes, [concept], prompts)[0]

    def segment_many(self, volumes: list[Volume], concepts: list[ConceptRef],
                     prompts: Prompts | None = None) -> list[Segmentation]:
        """Segment several concepts with one encoding of the scan(s)."""
        image = checked_head_scan(self, volumes, concepts,
                                  "use --engine atlas, or fine-tune the network on it (voxelprompt finetune)")
        start = time.perf_counter()
        out, grid = [], None
        for concept in concepts:
            if self.deformable and self._atlas_defined(concept):
                out.append(self._segment_by_prior(image, concept, start))
                continue
            lesion_net = self._lesion_net_for(concept) if self.deformable else None
            if lesion_net is not None:
                out.append(self._segment_lesions(image, concept, lesion_net, start))
                continue
            model, source = self.model_for(concept.name)
            encoded = self.encode(volumes, prompts, model, source)
            text = torch.as_tensor(model.embedding(concept.name))[None]
            prior = self.prior(concept)
            with torch.no_grad():
                logits, presence = model.net.readout(encoded.features, text, prior[None])
            if grid is None:  # the same affine for every concept: the scan's
                grid = self._scan_grid(image, encoded.affine)
            prob = F.grid_sample(torch.sigmoid(logits[:, :1]), grid, mode="bilinear", padding_mode="zeros",
                                 align_corners=True)[0, 0].numpy()
            p_present = float(torch.sigmoid(presence[0, 0]))
            mask = prob >= self.threshold
            # anatomy an atlas defines is always there; the presence score decides the rest
            gated = not bool(prior.abs().max() > 0)
            present = bool(mask.any()) and (not gated or p_present >= self.presence_threshold)
            if not present:
                mask = np.zeros_like(mask)
            confidence = float(prob[mask].mean()) * p_present if present else 1.0 - p_present
            provenance = {"weights": source, "template": encoded.affine.template,
                          "transform": "affine (Mattes MI) + network", "presence": round(p_present, 4),
                          "bit_reproducible": registration_is_reproducible(),
                          "registration_seconds": round(encoded.affine.seconds, 2),
                          "network_seconds": round(encoded.seconds, 2),
                          "seconds": round(time.perf_counter() - start, 2)}
            out.append(Segmentation(image.with_array(mask, channel_names=None, intensity_unit="label"), concept,
                                    self.name, present,
                                    image.with_array(prob.astype(np.float32), channel_names=None, intensity_unit="1"),
                                    confidence, provenance))
        return out

    def _atlas_defined(self, concept: ConceptRef) -> bool:
        """Whether the FreeSurfer label map defines ``concept`` (and no fine-tuned weights replace it)."""
        if concept.concept.group == "custom" or (self.weights is None and finetuned_weights(concept.name, kind="3d")):
            return False
        return bool(self.vocabulary.labels(concept, "freesurfer")) and bool(self.prior(concept).abs().max() > 0)

    def deformed_prior(self, image: Volume, *, robust: bool = False, moving: str = MOVING[0]) -> _Registration:
        """Atlas (MNI) coordinates of every scan voxel: the affine, then the test-time deformation (cached).

        ``robust``: the deformation masks one-sided blobs the template cannot explain
        (``align_prior``), so that a lesion is not absorbed by bending the anatomy into it. The
        lesion path uses it when the lesion network's weights were trained on such alignments (their
        metadata says ``alignment: robust``; ``scripts/train_lesionnet.py fit --robust-alignment``).
        ``moving``: the image aligned to the scan (``deform3d.MOVING``); the label map is read through
        the label-consistent T1, the lesion path aligns the plain T1 its network was trained on, so a
        scan asked for both anatomy and lesions is aligned twice (about 5 s more).
        """
        key = fingerprint(image) + ("|robust" if robust else "") + "|" + moving
        if key in self._deformed:
            self._deformed.move_to_end(key)
            return self._deformed[key]
        affine = self.affine(image)
        data = normalise_intensity(require_finite(image, "image").astype(np.float32))
        on_grid = normalise(_sample_onto(image, data, np.linalg.inv(affine.scan_to_template)))
        deformation = align_prior(on_grid, robust=robust, moving=moving)
        world = _atlas_points(image, affine.scan_to_template, deformation.displacement_mm.numpy())
        reg = _Registration(world, affine.template, affine.seconds + deformation.seconds,
                            "affine (Mattes MI) + test-time deformation",
                            f"local NCC on the repainted template ({moving} T1)"
                            + (", one-sided outliers masked" if robust else ""))
        self._deformed[key] = reg
        while len(self._deformed) > self._cache_size:
            self._deformed.popitem(last=False)
        return reg

    def _lesion_net_for(self, concept: ConceptRef) -> LoadedLesionNet | None:
        """The lesion network, when it answers ``concept`` (the shipped weights, not fine-tuned ones)."""
        if concept.name not in LESION_CONCEPTS or self.weights is not None:
            return None
        if finetuned_weights(concept.name, kind="3d") is not None:
            return None
        return shipped_lesionnet()

    def lesion_evidence(self, image: Volume,
                        net: LoadedLesionNet) -> tuple[_Registration, np.ndarray, np.ndarray, np.ndarray]:
        """What the lesion path reads of ``image``: its alignment, the normalised scan (scan grid), the residual
        channels and the network's lesion probability (working grid)."""
        # aligned as the network's training cases were: the plain T1, whose intensities the residual compares
        reg = self.deformed_prior(image, robust=net.robust_alignment, moving=LESION_MOVING)
        scan = normalise_scan(np.asarray(image.array, np.float32))
        channels = lesion_channels(image, reg, scan)
        return reg, scan, channels, net.probability(channels)

    def _segment_lesions(self, image: Volume, concept: ConceptRef, net: LoadedLesionNet, start: float) -> Segmentation:
        """Lesions: where the scan differs from its aligned, repainted template as the lesion network learned."""
        reg, scan, channels, prob_work = self.lesion_evidence(image, net)
        spacing, shape = np.asarray(image.spacing, float), image.shape[:3]
        judge, rows = shipped_judge(), []
        if judge is None:
            kept = net.lesion_mask(prob_work, VOXEL_ML)
            judged = {"threshold": net.threshold, "min_ml": net.min_ml, "peak": net.peak}
        else:
            kept, rows = judge.lesions(channels, prob_work)
            judged = {"judge": SHIPPED_JUDGE, "threshold": judge.threshold, "min_ml": judge.min_ml,
                      "cutoff": judge.cutoff, "candidates": rows}
        prob = np.clip(from_working_grid(prob_work, spacing, shape), 0, 1)
        mask = outline_on_scan_grid(scan, channels[CHANNELS.index("expected")], prob_work, kept, spacing)
        present = bool(mask.any())
        provenance = {"weights": SHIPPED_LESION, "template": reg.template, "transform": reg.transform,
                      "alignment": "robust" if net.robust_alignment else "plain",
                      "method": "lesion network on the residual from the aligned, repainted template and the "
                                "mirrored scan; " + ("each candidate judged on its size, contrast, symmetry, shape "
                                                     "and place; " if judge else "")
                                + f"outline at half the lesion's contrast over {EXPECTED_WEIGHT:g} of the expected "
                                  "image, on the scan grid", **judged,
                      "bit_reproducible": registration_is_reproducible(),
                      "registration_seconds": round(reg.seconds, 2),
                      "seconds": round(time.perf_counter() - start, 2)}
        doubt = max((r["judge_probability"] for r in rows), default=float(prob.max()))  # the likeliest lesion dropped
        confidence = float(prob[mask].mean()) if present else 1.0 - doubt
        return Segmentation(image.with_array(mask, channel_names=None, intensity_unit="label"), concept, self.name,
                            present, image.with_array(prob.astype(np.float32), channel_names=None, intensity_unit="1"),
                            confidence, provenance)

    def _segment_by_prior(self, image: Volume, concept: ConceptRef, start: float) -> Segmentation:
        """An atlas-defined concept: the 1 mm label map read through the deformed prior at the scan's resolution."""
        reg = self.deformed_prior(image)
        ids = self.vocabulary.labels(concept, "freesurfer")
        prob = AtlasEngine._sample_indicator(reg, "freesurfer", ids)
        mask = prob >= self.threshold
        present = bool(mask.any())
        provenance = {"template": reg.template, "atlas": "freesurfer", "labels": ids, "transform": reg.transform,
                      "metric": reg.metric, "bit_reproducible": registration_is_reproducible(),
                      "registration_seconds": round(reg.seconds, 2),
                      "seconds": round(time.perf_counter() - start, 2)}
        return Segmentation(image.with_array(mask, channel_names=None, intensity_unit="label"), concept, self.name,
                            present, image.with_array(prob.astype(np.float32), channel_names=None, intensity_unit="1"),
                            float(prob[mask].mean()) if present else 0.0, provenance)

    def prior(self, concept: ConceptRef) -> torch.Tensor:
        """The concept's atlas prior (FreeSurfer ids in MNI space) on the network grid; zeros if none."""
        ids = self.vocabulary.labels(concept, "freesurfer") if concept.concept.group != "custom" else []
        return prior_logits(tuple(ids)) if ids else torch.zeros(NET_SHAPE)

    # -- the per-scan work ----------------------------------------------------------------------
    def affine(self, image: Volume) -> TemplateAffine:
        """The scan's affine registration to the template (cached per scan)."""
        key = "affine|" + fingerprint(image)
        if key not in self._affines:
            self._affines[key] = register_affine(image)
            while len(self._affines) > self._cache_size:
                self._affines.pop(next(iter(self._affines)))
        return self._affines[key]

    def network_inputs(self, volumes: list[Volume],
                       prompts: Prompts | None = None) -> tuple[torch.Tensor, TemplateAffine]:
        """The network's input channels (C, X, Y, Z) for ``volumes`` and the affine that aligned them."""
        affine = self.affine(volumes[0])
        net_to_scan = np.linalg.inv(affine.scan_to_template)
        channels = []
        for v in volumes[:2]:
            data = normalise_intensity(require_finite(v, "image").astype(np.float32))
            channels.append(normalise(_sample_onto(v, data, net_to_scan)))
        if len(channels) == 1:
            channels.append(torch.zeros(NET_SHAPE))
        prompted = prompts is not None and (prompts.boxes_mm or prompts.points_mm)
        box, points = self._prompt_channels(prompts, affine) if prompted else (torch.zeros(NET_SHAPE),) * 2
        inputs = torch.cat([torch.stack([*channels, box, points]), torch.as_tensor(coordinate_channels())])
        return inputs.float(), affine

    def training_pair(self, image: Volume, mask: Volume) -> tuple[torch.Tensor, torch.Tensor]:
        """Network inputs of ``image`` and its ``mask`` as a soft target on the network grid (fine-tuning)."""
        inputs, affine = self.network_inputs([image])
        net_to_scan = np.linalg.inv(affine.scan_to_template)
        target = _sample_onto(mask, (np.asarray(mask.array) > 0).astype(np.float32), net_to_scan)
        return inputs, target

    def encode(self, volumes: list[Volume], prompts: Prompts | None = None, model: LoadedNet3D | None = None,
               source: str = "shipped") -> _Encoded:
        """Register, resample onto the network grid and run the encoder-decoder (cached per scan and weights)."""
        model = model or self.model
        prompted = prompts is not None and (prompts.boxes_mm or prompts.points_mm)
        key = source + "|" + "|".join(fingerprint(v) for v in volumes[:2])
        if not prompted and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        inputs, affine = self.network_inputs(volumes, prompts)
        start = time.perf_counter()
        with torch.no_grad():
            features = model.net.features(inputs[None])
        encoded = _Encoded(affine, features, time.perf_counter() - start)
        if not prompted:
            self._cache[key] = encoded
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return encoded

    @staticmethod
    def _prompt_channels(prompts: Prompts, affine: TemplateAffine) -> tuple[torch.Tensor, torch.Tensor]:
        """Boxes (world mm of the scan) as the box of their corners on the network grid; points as voxels."""
        to_net = np.linalg.inv(net_affine()) @ affine.scan_to_template
        box, points = torch.zeros(NET_SHAPE), torch.zeros(NET_SHAPE)
        upper = np.array(NET_SHAPE) - 1
        for b in prompts.boxes_mm:
            lo_mm, hi_mm = np.array(b[:3]), np.array(b[3:])
            corners = np.array([[x, y, z, 1.0] for x in (lo_mm[0], hi_mm[0]) for y in (lo_mm[1], hi_mm[1])
                                for z in (lo_mm[2], hi_mm[2])])
            vox = (to_net @ corners.T)[:3]
            lo = np.clip(np.floor(vox.min(1)), 0, upper).astype(int)
            hi = np.clip(np.ceil(vox.max(1)), 0, upper).astype(int) + 1
            box[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 1
        for p in prompts.points_mm:
            v = np.round(to_net @ np.r_[np.asarray(p, float), 1.0])[:3].astype(int)
            if np.all((v >= 0) & (v <= upper)):
                points[tuple(v)] = 1
        return box, points

    @staticmethod
    def _scan_grid(image: Volume, affine: TemplateAffine) -> torch.Tensor:
        """grid_sample coordinates on the network grid of every voxel of ``image`` (1, X, Y, Z, 3)."""
        matrix = torch.as_tensor(np.linalg.inv(net_affine()) @ affine.scan_to_template @ image.affine,
                                 dtype=torch.float32)
        shape = image.shape[:3]
        axes = [torch.arange(n, dtype=torch.float32) for n in shape]
        i, j, k = torch.meshgrid(*axes, indexing="ij")
        vox = torch.stack([matrix[a, 0] * i + matrix[a, 1] * j + matrix[a, 2] * k + matrix[a, 3] for a in range(3)], -1)
        size = torch.tensor(NET_SHAPE, dtype=torch.float32)
        return (2 * vox / (size - 1) - 1).flip(-1)[None]


def _atlas_points(image: Volume, scan_to_template: np.ndarray, displacement_mm: np.ndarray) -> np.ndarray:
    """(X, Y, Z, 3) atlas RAS mm of every voxel of ``image``: the affine, then the displacement on the net grid."""
    shape = image.shape[:3]
    ijk = np.indices(shape, dtype=np.float32).reshape(3, -1)
    m = (scan_to_template @ image.affine).astype(np.float32)
    q = m[:3, :3] @ ijk + m[:3, 3:4]
    inv = np.linalg.inv(net_affine()).astype(np.float32)
    v = inv[:3, :3] @ q + inv[:3, 3:4]
    # trilinear, edge values beyond the grid; torch does the three components at once and on every core
    size = np.array(NET_SHAPE, np.float32)[:, None]
    grid = torch.as_tensor((2 * v / (size - 1) - 1)[::-1].T.copy()).view(1, 1, 1, -1, 3)
    d = F.grid_sample(torch.as_tensor(np.asarray(displacement_mm, np.float32))[None], grid, mode="bilinear",
                      padding_mode="border", align_corners=True)[0, :, 0, 0].numpy()
    return (q + d).T.reshape(*shape, 3).astype(np.float32)
