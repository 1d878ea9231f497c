"""All measurements of every label in a mask or label map: the core of ``voxelprompt measure``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from voxelprompt.measure import shape
from voxelprompt.measure.components import connected_components
from voxelprompt.measure.intensity import intensity_stats
from voxelprompt.measure.quantity import Quantity
from voxelprompt.volume import Volume
from voxelprompt.volume.checks import require_finite, require_labels, require_same_grid
from voxelprompt.volume.geometry import crop

Progress = Callable[[Iterable[int]], Iterable[int]]


@dataclass
class RegionMeasurements:
    """Measurements of one label.

    Attributes:
        label: The label value.
        voxel_count: Number of voxels with that label.
        quantities: Measured quantities keyed by their flat key (``volume_ml``, ``centroid_mm``...).
        bbox: World and voxel bounding box (see :func:`voxelprompt.measure.shape.bounding_box`).
        intensity: Intensity statistics keyed ``mean``, ``std``... when an image was given.
    """

    label: int
    voxel_count: int
    quantities: dict[str, Quantity] = field(default_factory=dict)
    bbox: dict[str, Any] = field(default_factory=dict)
    component_sizes: list[Quantity] = field(default_factory=list)
    intensity: dict[str, Quantity] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Flat JSON record: ``{"label", "voxel_count", "volume_ml", ..., "intensity": {...}}``."""
        out: dict[str, Any] = {"label": self.label, "voxel_count": self.voxel_count}
        out.update({key: q.json_value() for key, q in self.quantities.items()})
        out["bbox"] = self.bbox
        out["components"] = len(self.component_sizes)
        if self.component_sizes:
            key = f"component_sizes_{self.component_sizes[0].key.split('_', 1)[1]}"
            out[key] = [q.json_value() for q in self.component_sizes]
        if self.intensity:
            unit = next(iter(self.intensity.values())).unit
            out["intensity"] = {k: q.json_value() for k, q in self.intensity.items()}
            out["intensity"]["unit"] = unit
        return out


def measure_region(mask: np.ndarray, grid: Volume, *, image: Volume | None = None,
                   connectivity: int = 26, label: int = 1) -> RegionMeasurements:
    """Every shape, position, component and (with ``image``) intensity measure of one region.

    Args:
        mask: Non-empty boolean region on ``grid``.
        grid: Volume giving the geometry (the mask's own file, or the image).
        image: Optional scalar image on the same grid for intensity statistics.
        connectivity: Neighbourhood for connected components (6/18/26, or 4/8 in 2D).
        label: Label value recorded in the result.
    """
    found = [q for q in _shape_quantities(mask, grid)]
    result = RegionMeasurements(label, int(np.count_nonzero(mask)),
                                quantities={q.key: q for q in found},
                                bbox=shape.bounding_box(mask, grid))
    result.component_sizes = connected_components(mask, grid, connectivity=connectivity).sizes
    if image is not None:
        result.intensity = intensity_stats(mask, image)
    return result


def _shape_quantities(mask: np.ndarray, grid: Volume) -> list[Quantity]:
    long_axis, short_axis = shape.recist_diameters(mask, grid)
    if grid.shape[2] == 1:
        size = [shape.region_area_2d(mask, grid), shape.perimeter_2d(mask, grid)]
    else:
        size = [shape.region_volume(mask, grid), shape.surface_area(mask, grid)]
    return size + [shape.max_diameter(mask, grid), long_axis, short_axis, shape.centroid(mask, grid)]


def measure_labels(labels: Volume, *, image: Volume | None = None, connectivity: int = 26,
                   only: Iterable[int] | None = None,
                   progress: Progress | None = None) -> list[RegionMeasurements]:
    """Measure every label of a mask or label map.

    Each label is measured inside its own bounding box (plus one voxel), so a 100-label atlas costs
    about as much as its voxels, not 100 full passes.

    Args:
        labels: Mask or label map (0 = background).
        image: Optional image on the same grid for intensity statistics.
        connectivity: Neighbourhood for connected components.
        only: Restrict to these label values.
        progress: Optional wrapper around the iterable of labels (e.g. a progress bar).

    Returns:
        One :class:`RegionMeasurements` per label present, in increasing label order.

    Raises:
        MaskError: If the mask is empty or holds non-label values.
        GeometryError: If ``image`` is on another grid.
        ValueContentError: If the image holds NaN or infinite values.
    """
    arr = require_labels(labels, "mask")
    if image is not None:
        require_same_grid(labels, image, "mask", "image")
        require_finite(image, "image")
    boxes = ndimage.find_objects(arr.astype(np.int64, copy=False))
    present = [n + 1 for n, box in enumerate(boxes) if box is not None]
    if only is not None:
        wanted = set(int(v) for v in only)
        present = [v for v in present if v in wanted]
    grid = labels.with_array(arr)
    results = []
    for value in (progress(present) if progress else present):
        box = boxes[value - 1]
        start = tuple(max(s.start - 1, 0) for s in box)
        stop = tuple(min(s.stop + 1, n) for s, n in zip(box, arr.shape))
        sub = crop(grid, start, stop)
        sub_image = crop(image, start, stop) if image is not None else None
        results.append(measure_region(sub.array == value, sub, image=sub_image,
                                      connectivity=connectivity, label=value))
    return results
