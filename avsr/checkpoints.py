"""Self-describing checkpoints: a folder with ``model.safetensors`` (weights) and
``config.json`` (what to build: model type, its config dataclass, vocabulary, provenance).
Loading never unpickles anything: weights come from safetensors, the config from JSON.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from avsr import __version__

WEIGHTS, CONFIG = "model.safetensors", "config.json"


class CheckpointError(RuntimeError):
    pass


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(folder: str | os.PathLike, model: torch.nn.Module, kind: str, config: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights and a config that rebuilds it (``kind`` names the builder)."""
    from safetensors.torch import save_file

    from avsr.io import atomic_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "kind": kind})
    meta = {"kind": kind, "config": config, "avsr_version": __version__, **(extra or {})}
    meta["sha256"] = sha256(folder / WEIGHTS)
    with atomic_path(folder / CONFIG) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return folder


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    folder = Path(folder)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise CheckpointError(f"{folder}: not an avsr checkpoint (needs {CONFIG} and {WEIGHTS})")
    try:
        meta = json.loads((folder / CONFIG).read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{folder / CONFIG}: not valid JSON ({e})") from e
    if "kind" not in meta or "config" not in meta:
        raise CheckpointError(f"{folder / CONFIG}: missing 'kind' or 'config'")
    return meta


def _builders():
    from avsr.av.noise import NoiseClassifier, NoiseClassifierConfig
    from avsr.configs import from_dict
    from avsr.vsr.model import VSRConfig, VSRModel

    return {"vsr": lambda cfg: VSRModel(VSRConfig.from_dict(cfg)),
            "noise": lambda cfg: NoiseClassifier(from_dict(NoiseClassifierConfig, cfg))}


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", verify: bool = True) -> torch.nn.Module:
    """Rebuild a model from a checkpoint folder (in eval mode). With ``verify`` the weights'
    sha256 must match the one recorded at save time."""
    from safetensors.torch import load_file

    folder = Path(path)
    meta = read_config(folder)
    builders = _builders()
    if meta["kind"] not in builders:
        raise CheckpointError(f"{folder}: unknown model kind {meta['kind']!r} (known: {', '.join(builders)})")
    if verify and meta.get("sha256") and sha256(folder / WEIGHTS) != meta["sha256"]:
        raise CheckpointError(f"{folder / WEIGHTS}: sha256 does not match config.json (corrupt or replaced file)")
    model = builders[meta["kind"]](meta["config"])
    state = load_file(str(folder / WEIGHTS), device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{folder}: weights do not fit the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.to(device).eval()
