"""Self-describing checkpoints: a folder with ``model.safetensors`` (weights) and
``config.json`` (what to build: model kind, its config dataclass, vocabulary, provenance).
Loading never unpickles anything: weights come from safetensors, the config from JSON.

The store does not know the model classes: each model kind registers a builder (config dict ->
``nn.Module``) with :func:`register_builder`, in its stage's ``__init__.py`` (``vsr`` in
:mod:`avsr.vsr`, ``noise`` in :mod:`avsr.noise`). :func:`avsr.load_model` imports the stages first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avsr.core.errors import CheckpointError
from avsr.core.files import atomic_path, sha256
from avsr.core.version import __version__

if TYPE_CHECKING:
    import torch

WEIGHTS, CONFIG = "model.safetensors", "config.json"


Builder = Callable[[dict[str, Any]], "torch.nn.Module"]
_BUILDERS: dict[str, Builder] = {}


def register_builder(kind: str, builder: Builder) -> None:
    """Make ``load_model`` rebuild checkpoints of ``kind`` with ``builder(config dict)``."""
    _BUILDERS[kind] = builder


def save_checkpoint(
    folder: str | os.PathLike,
    model: torch.nn.Module,
    kind: str,
    config: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights and a config that rebuilds it (``kind`` names the builder)."""
    from safetensors.torch import save_file

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


def read_safetensors(path: str | os.PathLike, device: str | None = None) -> dict[str, Any]:
    """The tensors of a safetensors file (torch tensors on ``device``, or NumPy arrays when None);
    a file that is not one (a pickle under that name, a damaged or absurd header) is a
    CheckpointError. Nothing in the file is executed: safetensors is data only."""
    try:
        if device is None:
            from safetensors.numpy import load_file

            return load_file(str(path))
        from safetensors.torch import load_file as load_torch

        return load_torch(str(path), device=str(device))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror or e})") from e
    except Exception as e:  # safetensors' own error: header too large, invalid, truncated
        raise CheckpointError(f"{path}: not a valid safetensors file ({e})") from e


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", verify: bool = True) -> torch.nn.Module:
    """Rebuild a model from a checkpoint folder (in eval mode). With ``verify`` the weights'
    sha256 must match the one recorded at save time."""
    folder = Path(path)
    meta = read_config(folder)
    if meta["kind"] not in _BUILDERS:
        raise CheckpointError(
            f"{folder}: unknown model kind {meta['kind']!r} (known: {', '.join(_BUILDERS) or 'none registered'}; "
            "avsr.load_model imports every stage that registers one)"
        )
    if verify and meta.get("sha256") and sha256(folder / WEIGHTS) != meta["sha256"]:
        raise CheckpointError(f"{folder / WEIGHTS}: sha256 does not match config.json (corrupt or replaced file)")
    model = _BUILDERS[meta["kind"]](meta["config"])
    state = read_safetensors(folder / WEIGHTS, device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{folder}: weights do not fit the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    return model.to(device).eval()
