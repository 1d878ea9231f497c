"""Reading and writing volumes; importing this package registers every format."""

from voxelprompt.volume.io import dicom_io, nibabel_io, nrrd_io, raster_io  # noqa: F401 (registers)
from voxelprompt.volume.io.masks import save_mask
from voxelprompt.volume.io.registry import READERS, WRITERS, load, save, supported_read_suffixes

__all__ = ["READERS", "WRITERS", "load", "save", "save_mask", "supported_read_suffixes"]
