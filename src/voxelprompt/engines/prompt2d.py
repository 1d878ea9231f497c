"""Prompted segmentation of pictures, frame sequences and volumes as slices.

This is the bridge between :class:`~voxelprompt.volume.Volume` (indexed ``[i=column, j=row, k]``)
and the 2D segmenters of :mod:`voxelprompt.vision` (indexed ``[row, column]``). Boxes and points
are in pixels of a picture or frame; on a positioned volume they are in world mm (x, y) on the
prompted slice, which must then be an axial-like plane, unless the user asks for pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voxelprompt.errors import VoxelPromptError
from voxelprompt.vision.predict2d import BoxSegmenter, OtsuSegmenter, PromptSpec
from voxelprompt.volume import Volume

SEGMENTERS = ("boxprompt", "otsu", "sam")


def frame_picture(volume: Volume, k: int) -> np.ndarray:
    """Frame or slice ``k`` as a (rows, cols) or (rows, cols, 3) array."""
    if not 0 <= k < volume.shape[2]:
        raise VoxelPromptError(f"frame {k} is outside the image's {volume.shape[2]} frame(s)",
                               f"give a frame between 0 and {volume.shape[2] - 1}")
    arr = np.asarray(volume.array)[:, :, k]
    if arr.ndim == 3 and arr.shape[2] not in (3, 4):
        raise VoxelPromptError(f"cannot prompt an image with {arr.shape[2]} channels",
                               "give a grayscale or RGB picture, or one volume at a time")
    return np.swapaxes(arr, 0, 1)


FRAME_MODALITIES = {"US", "IVUS", "XA", "RF", "ES", "XC", "GM", "SM", "OT", "SC", "DX", "CR", "MG", "PX", "IO", "OP"}


def prompts_in_world_mm(volume: Volume) -> bool:
    """Whether boxes and points on ``volume`` are read in world mm: a positioned multi-slice volume.

    Pictures, single frames and frame sequences (ultrasound clips, fluoroscopy, endoscopy video)
    take prompts in pixels.
    """
    meta = volume.metadata
    return (volume.shape[2] > 1 and volume.is_physical and meta.format != "raster"
            and (meta.modality or "").upper() not in FRAME_MODALITIES)


def world_box_to_pixels(volume: Volume, box_mm: tuple[float, float, float, float], k: int
                        ) -> tuple[float, float, float, float]:
    """A world (x0, y0, x1, y1) box in mm on slice ``k`` as a pixel box on that slice.

    Raises:
        VoxelPromptError: If the slice plane is not close to the world x-y (axial) plane.
    """
    normal = volume.affine[:3, 2] / np.linalg.norm(volume.affine[:3, 2])
    if abs(normal[2]) < 0.9:
        raise VoxelPromptError("a box in world mm needs slices close to the axial (x-y) plane",
                               "reorient the volume to axial slices first (voxelprompt reorient), or give "
                               "the box in pixels of the slice with --pixels")
    centre = volume.world_from_voxel(np.array([[(volume.shape[0] - 1) / 2, (volume.shape[1] - 1) / 2, k]]))[0]
    corners = np.array([[box_mm[0], box_mm[1], centre[2]], [box_mm[2], box_mm[3], centre[2]]])
    ijk = volume.voxel_from_world(corners)
    (i0, i1), (j0, j1) = sorted(ijk[:, 0]), sorted(ijk[:, 1])
    return float(i0 + 0.5), float(j0 + 0.5), float(i1 + 0.5), float(j1 + 0.5)


def make_segmenter(name: str = "boxprompt", *, weights: Path | None = None, checkpoint: Path | None = None):
    """The named 2D segmenter: ``boxprompt`` (embedded network), ``otsu`` (classical) or ``sam``."""
    if name == "boxprompt":
        return BoxSegmenter(weights)
    if name == "otsu":
        return OtsuSegmenter()
    if name == "sam":
        if checkpoint is None:
            raise VoxelPromptError("the sam segmenter needs a checkpoint folder",
                                   "give --checkpoint DIR holding a SAM, SAM 2 or MedSAM model in the "
                                   "Hugging Face format")
        from voxelprompt.vision.sam_adapter import SamSegmenter

        return SamSegmenter(checkpoint)
    raise VoxelPromptError(f"no 2D segmenter called '{name}'", f"choose one of: {', '.join(SEGMENTERS)}")


def prompts_from_json(raw: object) -> list[PromptSpec]:
    """Prompts from a JSON list of ``{"box": [x0, y0, x1, y1], "points": [[x, y]], "negative_points": [...]}``."""
    if not isinstance(raw, list) or not raw:
        raise VoxelPromptError("the prompts file must hold a non-empty JSON list of prompts",
                               'write e.g. [{"box": [10, 20, 80, 90]}]')
    out = []
    for n, item in enumerate(raw):
        try:
            box = item.get("box")
            spec = PromptSpec(tuple(float(v) for v in box) if box is not None else None,  # type: ignore[arg-type]
                              [(float(x), float(y)) for x, y in item.get("points", [])],
                              [(float(x), float(y)) for x, y in item.get("negative_points", [])])
        except (AttributeError, TypeError, ValueError) as exc:
            raise VoxelPromptError(f"prompt {n} in the prompts file is malformed ({exc})",
                                   'each prompt is {"box": [x0, y0, x1, y1], "points": [[x, y], ...]}') from exc
        if spec.box is not None and len(spec.box) != 4:
            raise VoxelPromptError(f"prompt {n}: a box has 4 numbers (x0 y0 x1 y1)", "fix the prompts file")
        out.append(spec)
    return out


def check_prompt(spec: PromptSpec, shape: tuple[int, int]) -> None:
    """Reject boxes and points that are empty or entirely outside a (rows, cols) picture."""
    rows, cols = shape
    if spec.box is not None:
        x0, y0, x1, y1 = spec.box
        if x1 <= x0 or y1 <= y0:
            raise VoxelPromptError(f"box {x0:g} {y0:g} {x1:g} {y1:g} is empty",
                                   "give x0 y0 x1 y1 with x1 > x0 and y1 > y0 (pixels, x to the right, y down)")
        if x1 <= 0 or y1 <= 0 or x0 >= cols or y0 >= rows:
            raise VoxelPromptError(f"box {x0:g} {y0:g} {x1:g} {y1:g} lies outside the {cols}x{rows} picture",
                                   "give the box in pixels of this picture")
    for x, y in [*spec.positive, *spec.negative]:
        if not (0 <= x < cols and 0 <= y < rows):
            raise VoxelPromptError(f"point {x:g} {y:g} lies outside the {cols}x{rows} picture",
                                   "give points in pixels of this picture (x to the right, y down)")


