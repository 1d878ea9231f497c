"""The lesion network's inputs for one scan: its aligned template and label map on the working grid.

The net engine's test-time alignment (``NetEngine.deformed_prior``) gives the atlas position of
every scan voxel. Here that map is carried onto the working grid of ``vision.lesion_residual``, the
ICBM 2009a T1 (the template the alignment moved) and the FreeSurfer label map are read there, and
the residual channels are computed.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import ndimage

from voxelprompt.engines.atlas import _Registration
from voxelprompt.vision.lesion_residual import mirror_coordinates, normalise_scan, residual_channels, to_working_grid
from voxelprompt.vision.templates import atlas_labels, template
from voxelprompt.volume import Volume

TEMPLATE = "icbm2009a"


@cache
def _template_t1() -> tuple[np.ndarray, np.ndarray]:
    t1 = template(TEMPLATE)
    data = np.asarray(t1.array, np.float32)
    data = data / np.percentile(data[data > 0.05 * data.max()], 99.5)
    return data, np.asarray(t1.affine)


def working_world(image: Volume, reg: _Registration) -> np.ndarray:
    """Atlas position (3, X, Y, Z; mm) of every working-grid voxel of ``image``."""
    spacing = np.asarray(image.spacing, float)
    return np.stack([to_working_grid(reg.world_map[..., a], spacing) for a in range(3)]).astype(np.float32)


def aligned_atlas(world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Template T1 intensity and FreeSurfer label at the atlas positions ``world`` (3, X, Y, Z)."""
    points = world.reshape(3, -1)
    t1, t1_affine = _template_t1()
    labels = atlas_labels("freesurfer")
    t = _read_at(t1, t1_affine, points, order=1).reshape(world.shape[1:])
    lab = _read_at(np.asarray(labels.array), labels.affine, points, order=0).reshape(world.shape[1:])
    return np.clip(t, 0, 1.5).astype(np.float32), lab.astype(np.int16)


def _read_at(data: np.ndarray, affine: np.ndarray, points: np.ndarray, order: int) -> np.ndarray:
    """``data`` (voxel-to-world ``affine``) at world ``points`` (3, N), zero outside."""
    inv = np.linalg.inv(affine)
    return ndimage.map_coordinates(data, inv[:3, :3] @ points + inv[:3, 3:4], order=order, cval=0)


def aligned_inputs(image: Volume, reg: _Registration,
                   scan: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What ``residual_channels`` takes for ``image``, on its working grid.

    The normalised scan, the template intensity and FreeSurfer label read through ``reg``, and the
    mirror map. ``scan``: ``image`` already normalised (``normalise_scan``), where the caller needs it too.
    """
    spacing = np.asarray(image.spacing, float)
    scan = normalise_scan(np.asarray(image.array, np.float32)) if scan is None else scan
    world = working_world(image, reg)
    t, lab = aligned_atlas(world)
    return to_working_grid(scan, spacing), t, lab, mirror_coordinates(world)


def lesion_channels(image: Volume, reg: _Registration, scan: np.ndarray | None = None) -> np.ndarray:
    """The residual channels (C, X, Y, Z) of ``image`` on its working grid (``scan`` as for ``aligned_inputs``)."""
    return residual_channels(*aligned_inputs(image, reg, scan))
