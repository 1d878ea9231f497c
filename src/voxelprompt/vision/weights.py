"""Loading and saving the box-prompted segmenter's weights (safetensors)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from voxelprompt.errors import InputFileError
from voxelprompt.files import atomic_path
from voxelprompt.vision.boxnet import BoxPromptNet

SHIPPED = "boxprompt2d.safetensors"


def shipped_weights() -> Path:
    """The weights that ship with the package."""
    return Path(str(resources.files("voxelprompt.vision") / "data" / SHIPPED))


def write_safetensors(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, str],
                      dtype: torch.dtype | None = None) -> Path:
    """Write tensors (on the CPU, as ``dtype`` when given) and string metadata to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype or v.dtype).contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in metadata.items()})
    return path


def save_weights(net: BoxPromptNet, path: Path, metadata: dict[str, str]) -> Path:
    """Write the network's weights atomically with string metadata."""
    return write_safetensors(path, net.state_dict(), {"architecture": "BoxPromptNet", **metadata})


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a weights file in one read; a missing or unreadable file is an input error."""
    if not path.exists():
        raise InputFileError(f"weights file {path} does not exist", "give the path of a .safetensors file")
    try:
        with safe_open(str(path), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise InputFileError(f"cannot read weights {path}: {exc}",
                             "give a .safetensors file written by voxelprompt") from exc


def load_weights(path: Path | None = None) -> BoxPromptNet:
    """A network with the weights at ``path`` (default: the shipped ones), in eval mode."""
    state, _ = read_safetensors(path or shipped_weights())
    net = BoxPromptNet()
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputFileError(f"weights {path} do not fit the box-prompted segmenter "
                             f"({len(missing)} missing, {len(unexpected)} unexpected tensors)",
                             "give weights written by voxelprompt finetune or train")
    return net.eval()


@cache
def shipped_net() -> BoxPromptNet:
    """The shipped network, loaded once per process."""
    return load_weights()
