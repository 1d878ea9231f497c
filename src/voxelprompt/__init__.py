"""voxelprompt: grounded, language-driven medical image analysis.

The public Python API mirrors the command line::

    import voxelprompt as vp
    image = vp.load("t1.nii.gz")
    labels = vp.load("aseg.nii.gz")
    table = vp.measure_labels(labels, image=image)
"""

from __future__ import annotations

__version__ = "0.1.0"

from voxelprompt.errors import VoxelPromptError
from voxelprompt.measure import Quantity, measure_labels
from voxelprompt.volume import Volume, load, save

__all__ = ["Quantity", "Volume", "VoxelPromptError", "__version__", "load", "measure_labels", "save"]
