"""Carrying a prompt from one frame (or slice) to its neighbours.

The mask found on a frame gives the box for the next one: its bounding box widened by
``MARGIN`` of its size. Propagation goes both ways from the start frame and stops in each direction
when the mask vanishes, the score falls below ``min_score``, or the area jumps by more than
``max_area_ratio`` from one frame to the next (the object has left the plane).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from voxelprompt.vision.classical import mask_box, pad_box
from voxelprompt.vision.predict2d import Instance2D, PromptSpec

MARGIN = 0.12


def box_of(mask: np.ndarray, margin: float = MARGIN) -> tuple[float, float, float, float]:
    """The mask's bounding box in pixel edges, widened by ``margin`` of its size (and 2 px)."""
    box = mask_box(mask)
    mx, my = margin * (box[2] - box[0]) + 2, margin * (box[3] - box[1]) + 2
    return pad_box(box, (mx, my, mx, my), mask.shape)


def propagate(segment: Callable[[np.ndarray, PromptSpec], Instance2D], frame: Callable[[int], np.ndarray],
              n_frames: int, start: int, first: Instance2D, *, min_score: float = 0.3,
              max_area_ratio: float = 2.5) -> dict[int, Instance2D]:
    """Segment the neighbours of ``start`` from ``first``, frame by frame in both directions.

    Args:
        segment: Segments one prompt on one picture.
        frame: Returns picture ``k`` ((rows, cols) or (rows, cols, 3)).
        n_frames: Number of frames.
        start: Index of the prompted frame.
        first: The instance found on ``start``.
        min_score: Lowest score that continues the propagation.
        max_area_ratio: Largest area change between neighbouring frames that continues it.

    Returns:
        ``{frame index: instance}``, the start frame included.
    """
    found = {start: first}
    for step in (1, -1):
        previous = first
        k = start + step
        while 0 <= k < n_frames and previous.mask.any():
            prompt = PromptSpec(box_of(previous.mask))
            current = segment(frame(k), prompt)
            area, before = int(current.mask.sum()), int(previous.mask.sum())
            if area == 0 or current.score < min_score or not (1 / max_area_ratio <= area / before <= max_area_ratio):
                break
            found[k] = current
            previous = current
            k += step
    return dict(sorted(found.items()))
