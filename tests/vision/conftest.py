"""Pictures with known answers for the 2D tests, and the lesion network's training script as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

TRAIN_LESIONNET = Path(__file__).resolve().parents[2] / "scripts" / "train_lesionnet.py"


@pytest.fixture(scope="module")
def train_script():
    """scripts/train_lesionnet.py, imported (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("train_lesionnet", TRAIN_LESIONNET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def disc_picture(shape=(120, 160), centre=(60, 70), radius=25, *, inside=60.0, outside=160.0, noise=8.0, seed=0):
    """A (rows, cols) uint8 picture of a dark disc on a bright background, and the disc's mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    mask = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2
    picture = np.where(mask, inside, outside) + rng.normal(0, noise, shape)
    return np.clip(picture, 0, 255).astype(np.uint8), mask


def box_of(mask, margin=4):
    rows, cols = np.nonzero(mask)
    return (float(cols.min() - margin), float(rows.min() - margin), float(cols.max() + 1 + margin),
            float(rows.max() + 1 + margin))


def dice(a, b):
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))
