"""A small synthetic head: an image and a FreeSurfer-LUT label map on one oblique 1.5 mm grid."""

from __future__ import annotations

import numpy as np
import pytest

from voxelprompt.engines.labelmap import LabelMapEngine
from voxelprompt.program import ProgramContext, assign_roles, new_interpreter
from voxelprompt.volume import Volume, VolumeMetadata

LEFT_HIPPO, RIGHT_HIPPO, LEFT_THAL, RIGHT_THAL, THIRD_VENT = 17, 53, 10, 49, 14
VOXEL_ML = 1.5 * 1.5 * 2.0 / 1000.0


def synthetic_head() -> tuple[Volume, Volume]:
    """RAS grid (x increases to the patient's right): label blocks with known voxel counts."""
    lab = np.zeros((40, 36, 30), np.int16)
    lab[5:13, 10:20, 8:14] = LEFT_HIPPO      # 8*10*6 = 480 voxels, low x = patient's left
    lab[27:35, 10:20, 8:14] = RIGHT_HIPPO    # 480
    lab[27:34, 10:20, 8:12] = RIGHT_HIPPO    # (inside the block above; still 480)
    lab[6:12, 22:30, 16:22] = LEFT_THAL      # 6*8*6 = 288
    lab[28:35, 22:30, 16:22] = RIGHT_THAL    # 7*8*6 = 336
    lab[19:21, 22:30, 16:22] = THIRD_VENT    # 2*8*6 = 96, midline
    affine = np.diag([1.5, 1.5, 2.0, 1.0])
    affine[:3, 3] = [-30.0, -27.0, -30.0]
    rng = np.random.default_rng(0)
    image = (100 + 50 * (lab > 0) + rng.normal(0, 1, lab.shape)).astype(np.float32)
    return (Volume(image, affine, VolumeMetadata(source="head.nii.gz", modality="MR")),
            Volume(lab, affine, VolumeMetadata(source="labels.nii.gz")))


@pytest.fixture(scope="session")
def head():
    return synthetic_head()


@pytest.fixture
def context(head):
    image, labels = head
    return ProgramContext(assign_roles([("t1", image)]), engines=[LabelMapEngine(labels)])


@pytest.fixture
def interpreter(context):
    return new_interpreter(context)
