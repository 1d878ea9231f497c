"""An adapter for the SAM family (SAM, MedSAM, SAM-HQ, SAM 2) from a local checkpoint folder.

The folder holds a model in the Hugging Face format (``config.json``, weights and the processor's
``preprocessor_config.json``), for example a downloaded ``facebook/sam-vit-base``,
``wanglab/medsam-vit-base`` or ``facebook/sam2.1-hiera-tiny``; nothing is downloaded here. The
model's processor resizes the picture to the model's input size and maps box and point
coordinates with it; masks come back at the picture's own size. Box and point coordinates are in
pixels of the picture, x to the right and y down, as voxelprompt uses everywhere.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from voxelprompt.errors import InputFileError
from voxelprompt.vision.predict2d import Instance2D, PromptSpec

log = logging.getLogger(__name__)
SUPPORTED = ("sam", "sam_hq", "sam2")


def as_rgb8(picture: np.ndarray) -> np.ndarray:
    """A (rows, cols, 3) uint8 picture, grey values windowed to 0..255 when they do not fit."""
    pixels = np.asarray(picture)
    if pixels.ndim == 2:
        pixels = pixels[..., None].repeat(3, -1)
    pixels = pixels[..., :3]
    if pixels.dtype != np.uint8:
        low, high = np.percentile(pixels, [0.5, 99.5])
        pixels = np.clip((pixels - low) / max(float(high - low), 1e-6) * 255, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels)


class SamSegmenter:
    """Box/point-prompted segmentation with a SAM-family model (one instance per prompt).

    Args:
        checkpoint: Folder with the model and its processor in the Hugging Face format.
        threshold: Logit threshold of the masks (0 = probability 0.5).
    """

    name = "sam"

    def __init__(self, checkpoint: Path, *, threshold: float = 0.0) -> None:
        from transformers import AutoModel, AutoProcessor

        if not Path(checkpoint).is_dir():
            raise InputFileError(f"SAM checkpoint folder {checkpoint} does not exist",
                                 "give the folder of a SAM, MedSAM or SAM 2 model saved in the Hugging Face format")
        try:
            self.processor = AutoProcessor.from_pretrained(str(checkpoint))
            self.model = AutoModel.from_pretrained(str(checkpoint)).eval()
        except (OSError, ValueError, KeyError) as exc:
            raise InputFileError(f"cannot load a SAM-family model from {checkpoint}: {exc}",
                                 "the folder needs config.json, the weights and preprocessor_config.json") from exc
        self.kind = self.model.config.model_type
        if self.kind not in SUPPORTED:
            raise InputFileError(f"{checkpoint} holds a '{self.kind}' model, not one of the SAM family",
                                 f"give a checkpoint of type {', '.join(SUPPORTED)}")
        self.weights = str(checkpoint)
        self.threshold = threshold

    def _inputs(self, rgb: np.ndarray, prompt: PromptSpec) -> dict:
        nest = (lambda v: [[v]]) if self.kind == "sam2" else (lambda v: [v])
        kwargs: dict = {"images": rgb, "return_tensors": "pt"}
        if prompt.box is not None:
            kwargs["input_boxes"] = [[list(map(float, prompt.box))]]
        points = [*prompt.positive, *prompt.negative]
        if points:
            kwargs["input_points"] = nest([[float(x), float(y)] for x, y in points])
            kwargs["input_labels"] = nest([1] * len(prompt.positive) + [0] * len(prompt.negative))
        return self.processor(**kwargs)

    @torch.no_grad()
    def segment(self, picture: np.ndarray, prompts: list[PromptSpec]) -> list[Instance2D]:
        """One instance per prompt on a (rows, cols) or (rows, cols, 3) picture."""
        rgb = as_rgb8(picture)
        out = []
        for prompt in prompts:
            inputs = self._inputs(rgb, prompt)
            model_inputs = {k: v for k, v in inputs.items() if k not in ("original_sizes", "reshaped_input_sizes")}
            result = self.model(**model_inputs, multimask_output=False)
            sizes = [inputs["original_sizes"]]
            if "reshaped_input_sizes" in inputs:
                sizes.append(inputs["reshaped_input_sizes"])
            logits = self.processor.post_process_masks(result.pred_masks, *sizes, binarize=False)[0]
            logit = logits.reshape(-1, *rgb.shape[:2])[0].float()
            mask = (logit > self.threshold).numpy()
            score = float(result.iou_scores.reshape(-1)[0].clamp(0, 1))
            out.append(Instance2D(mask, torch.sigmoid(logit).numpy(), score, prompt))
        return out
