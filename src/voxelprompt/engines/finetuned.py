"""Where ``voxelprompt finetune`` remembers which weights serve which concept.

One JSON file per network kind in ``$VOXELPROMPT_HOME`` (default ``~/.voxelprompt``):
``finetuned2d.json`` for the 2D box segmenter, ``finetuned3d.json`` for the 3D network; each maps a
concept's text (lower case) to a weights file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from voxelprompt.errors import VoxelPromptError
from voxelprompt.files import atomic_path


def registry_file(kind: str = "2d") -> Path:
    return Path(os.environ.get("VOXELPROMPT_HOME") or Path.home() / ".voxelprompt") / f"finetuned{kind}.json"


def registry(kind: str = "2d") -> dict[str, str]:
    path = registry_file(kind)
    try:
        data = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError) as exc:
        raise VoxelPromptError(f"cannot read the fine-tuned concept registry {path}: {exc}",
                               "fix or delete that file") from exc
    return data if isinstance(data, dict) else {}


def register_finetuned(concept: str, weights: Path, kind: str = "2d") -> str:
    """Remember ``weights`` as the network for ``concept``; returns the registry file."""
    data = registry(kind)
    data[concept.strip().lower()] = str(Path(weights).resolve())
    path = registry_file(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2))
    return str(path)


def finetuned_weights(*names: str | None, kind: str = "2d") -> Path | None:
    """Weights registered for the first of ``names`` that has some (and whose file still exists)."""
    data = registry(kind)
    for name in names:
        if name and name.strip().lower() in data:
            path = Path(data[name.strip().lower()])
            if path.exists():
                return path
    return None
