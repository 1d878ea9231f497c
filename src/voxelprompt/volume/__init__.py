"""The lowest layer: :class:`Volume`, file formats and geometry operations."""

from voxelprompt.volume.io import load, save, save_mask, supported_read_suffixes
from voxelprompt.volume.volume import MM, PIXEL, Volume, VolumeMetadata

__all__ = ["MM", "PIXEL", "Volume", "VolumeMetadata", "load", "save", "save_mask",
           "supported_read_suffixes"]
