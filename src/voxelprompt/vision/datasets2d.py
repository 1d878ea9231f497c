"""Finding image and mask pairs in a user's 2D dataset folder.

Layouts understood:
    * two folders, ``--images DIR --labels DIR``: a mask has the image's name, optionally followed
      by ``_mask``, ``_segmentation`` or ``_Segmentation`` (Kvasir-SEG ``images/`` + ``masks/``, ISIC 2018
      ``..._Input/`` + ``..._GroundTruth/``);
    * one folder whose masks lie beside their images as ``NAME_mask.png`` (also ``NAME_mask_1.png``
      ... for more masks of one image, merged), in class subfolders (BUSI: ``benign/``,
      ``malignant/``, ``normal/``).

Masks are binarised at half their maximum (JPEG masks carry compression noise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from voxelprompt.errors import InputFileError

PICTURES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_SUFFIX = re.compile(r"(_mask(_\d+)?|_segmentation|_Segmentation)$")


T = TypeVar("T")


@dataclass
class Pair:
    """One image with its mask files and its class (the subfolder, or the concept)."""

    image: Path
    masks: list[Path]
    label: str

    def load(self, max_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(picture, mask) as arrays, (rows, cols[, 3]) and (rows, cols) bool.

        Args:
            max_side: Downscale both (the mask with nearest neighbours) so that the longer side is at
                most this many pixels; None keeps the native size.
        """
        try:
            with Image.open(self.image) as img:
                size = _fitted(img.size, max_side)
                img = img.convert("RGB" if img.mode not in ("L", "I;16", "I") else img.mode)
                picture = np.asarray(img.resize(size, Image.BILINEAR) if size != img.size else img)
            merged = None
            for path in self.masks:
                with Image.open(path) as m:
                    m = m.convert("L")
                    arr = np.asarray(m.resize(size, Image.NEAREST) if size != m.size else m, np.float32)
                part = arr > arr.max() / 2 if arr.max() > 0 else arr > 0
                merged = part if merged is None else merged | part
        except OSError as exc:
            raise InputFileError(f"cannot read {self.image} or its mask: {exc}", "check the dataset files") from exc
        if merged is None or merged.shape != picture.shape[:2]:
            raise InputFileError(f"the mask of {self.image} does not have the image's size",
                                 "masks must be pictures of the same size as their images")
        return picture, merged


def _fitted(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(size) <= max_side:
        return size
    scale = max_side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _pictures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICTURES and p.is_file())


def find_pairs(images: Path, labels: Path | None = None, *, concept: str = "object") -> list[Pair]:
    """Image and mask pairs in a dataset folder (see the module docstring for the layouts).

    Raises:
        InputFileError: If a folder is missing or no pair is found.
    """
    for folder in (images, labels):
        if folder is not None and not folder.is_dir():
            raise InputFileError(f"dataset folder {folder} does not exist", "give a folder of pictures")
    if labels is not None:
        masks = {}
        for m in _pictures(labels):
            masks.setdefault(MASK_SUFFIX.sub("", m.stem), []).append(m)
        pairs = [Pair(p, masks[p.stem], concept) for p in _pictures(images) if p.stem in masks]
    else:
        by_key: dict[tuple[Path, str], list[Path]] = {}
        plain = []
        for p in _pictures(images):
            if MASK_SUFFIX.search(p.stem):
                by_key.setdefault((p.parent, MASK_SUFFIX.sub("", p.stem)), []).append(p)
            else:
                plain.append(p)
        pairs = [Pair(p, by_key[(p.parent, p.stem)], p.parent.name if p.parent != images else concept)
                 for p in plain if (p.parent, p.stem) in by_key]
    if not pairs:
        raise InputFileError(f"no image and mask pairs found in {images}",
                             "use --images DIR --labels DIR with masks named like their images, or a folder "
                             "holding NAME.png beside NAME_mask.png")
    return pairs


def split_pairs(pairs: list[T], holdout: float, seed: int) -> tuple[list[T], list[T]]:
    """A reproducible (train, held-out) split; at least one pair on each side when there are two or more."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_held = min(max(1, round(holdout * len(pairs))), len(pairs) - 1) if len(pairs) > 1 and holdout > 0 else 0
    held = [pairs[i] for i in order[:n_held]]
    train = [pairs[i] for i in order[n_held:]]
    return train, held
