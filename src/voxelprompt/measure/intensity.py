"""Intensity statistics of an image inside a region."""

from __future__ import annotations

import numpy as np

from voxelprompt.measure.quantity import Quantity
from voxelprompt.volume import Volume
from voxelprompt.volume.checks import require_finite


def intensity_stats(mask: np.ndarray, image: Volume) -> dict[str, Quantity]:
    """Mean, standard deviation, median, minimum, maximum, 5th and 95th percentiles inside ``mask``.

    Args:
        mask: Boolean region on ``image``'s grid (non-empty).
        image: Scalar image with finite values; its ``intensity_unit`` is the unit of the results.

    Returns:
        Quantities keyed ``mean``, ``std``, ``median``, ``min``, ``max``, ``p05``, ``p95``.
    """
    values = require_finite(image)[mask].astype(np.float64)
    unit = image.metadata.intensity_unit
    stats = {
        "mean": values.mean(),
        "std": values.std(),
        "median": np.median(values),
        "min": values.min(),
        "max": values.max(),
        "p05": np.percentile(values, 5),
        "p95": np.percentile(values, 95),
    }
    return {k: Quantity(float(v), unit, f"intensity_{k}") for k, v in stats.items()}
