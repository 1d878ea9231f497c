"""Connected components (instances) of a region."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from voxelprompt.errors import VoxelPromptError
from voxelprompt.measure.quantity import Quantity
from voxelprompt.volume import Volume

CONNECTIVITY_RANK = {6: 1, 18: 2, 26: 3, 4: 1, 8: 2}


@dataclass(frozen=True)
class Components:
    """Connected components of a mask.

    Attributes:
        labels: Integer array, 0 outside, 1..count inside, numbered largest first.
        sizes: Size of each component (mL on physical 3D grids; mm² or px² on 2D grids).
    """

    labels: np.ndarray
    sizes: list[Quantity]

    @property
    def count(self) -> int:
        return len(self.sizes)


def connected_components(mask: np.ndarray, grid: Volume, *, connectivity: int = 26) -> Components:
    """Label connected components, largest first.

    Args:
        mask: Boolean region on ``grid``.
        grid: The volume whose geometry gives physical sizes.
        connectivity: 6, 18 or 26 neighbours in 3D; 4 or 8 for a single slice.

    Raises:
        VoxelPromptError: If ``connectivity`` is not one of those values.
    """
    if connectivity not in CONNECTIVITY_RANK:
        raise VoxelPromptError(f"connectivity {connectivity} is not supported",
                               "use 6, 18 or 26 (3D) or 4 or 8 (2D)")
    flat = grid.shape[2] == 1
    if flat and connectivity in (6, 18, 26):
        connectivity = 8 if connectivity in (18, 26) else 4
    rank = CONNECTIVITY_RANK[connectivity]
    if flat:
        lab2d, n = ndimage.label(mask[:, :, 0], structure=ndimage.generate_binary_structure(2, rank))
        raw = lab2d[:, :, np.newaxis]
    else:
        raw, n = ndimage.label(mask, structure=ndimage.generate_binary_structure(3, rank))
    counts = np.bincount(raw.ravel())[1:]
    order = np.argsort(-counts, kind="stable")
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[order + 1] = np.arange(1, n + 1)
    labels = remap[raw]
    if flat:
        in_plane = float(np.linalg.norm(np.cross(grid.affine[:3, 0], grid.affine[:3, 1])))
        unit = "mm^2" if grid.is_physical else "px^2"
        sizes = [Quantity(float(c) * in_plane, unit, "area") for c in counts[order]]
    elif grid.is_physical:
        sizes = [Quantity(float(c) * grid.voxel_volume / 1000.0, "mL", "volume") for c in counts[order]]
    else:
        sizes = [Quantity(float(c), "px^3", "volume") for c in counts[order]]
    return Components(labels, sizes)


def largest_component(mask: np.ndarray, grid: Volume, *, connectivity: int = 26) -> np.ndarray:
    """The largest connected component of ``mask`` (empty if the mask is empty)."""
    comps = connected_components(mask, grid, connectivity=connectivity)
    return comps.labels == 1
