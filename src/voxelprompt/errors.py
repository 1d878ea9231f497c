"""Errors that voxelprompt reports to its users.

Every error raised on bad input is a :class:`VoxelPromptError`: its message names the problem and
how to fix it, on one line, so that front ends can print it without a traceback.
"""

from __future__ import annotations


class VoxelPromptError(Exception):
    """Base class of every error caused by the user's input or environment.

    Args:
        problem: What is wrong, naming the file or value concerned.
        fix: What the user can do about it.
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem}; {fix}")


class InputFileError(VoxelPromptError):
    """A file is missing, unreadable, truncated, corrupt or of an unsupported type."""


class DimensionError(VoxelPromptError):
    """An array has the wrong number of dimensions or channels for the operation."""


class GeometryError(VoxelPromptError):
    """Two volumes that must share a voxel grid do not, or an affine is unusable."""


class MaskError(VoxelPromptError):
    """A mask or label map is empty or holds values that are not labels."""


class ValueContentError(VoxelPromptError):
    """An array holds values the operation cannot use (NaN, infinity)."""


class UnitError(VoxelPromptError):
    """Quantities with incompatible units were combined."""
