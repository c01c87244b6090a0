"""Reading ``torch.save`` files of published models safely: ``weights_only=True`` only, with a
clear :class:`~avsr.core.errors.CheckpointError` for a file that is not one (text, empty, broken,
a pickled module) instead of a traceback. Used by the Auto-AVSR and VALLR readers."""

from __future__ import annotations

import os
import pickle

import torch

from avsr.core.errors import CheckpointError


def not_torch_file(path: str | os.PathLike) -> str | None:
    """What ``path`` is when its first bytes show it cannot be a ``torch.save`` file (a zip
    archive, ``PK\\x03\\x04``, or before PyTorch 1.6 a pickle, opcode ``\\x80``); None when it may be one."""
    with open(path, "rb") as f:
        head = f.read(32)
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        return None
    if not head:
        return "an empty file (0 bytes)"
    text = head.decode("utf-8", "ignore")  # a character cut at byte 32 is dropped
    if len(text.encode()) >= len(head) - 3 and all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"a text file (it starts {text.splitlines()[0][:24]!r})" if text.strip() else "a blank text file"
    return f"binary data starting {head[:8]!r}"


def read_state_dict(path: str | os.PathLike, mmap: bool = False) -> dict[str, torch.Tensor]:
    """A ``.pth`` state_dict read with ``weights_only=True`` (nothing in it is executed).
    Accepts a bare state_dict, one wrapped as ``{"state_dict" | "model_state_dict" | "model": ...}``
    (training scripts' checkpoints, other entries ignored), and a ``model.`` or ``module.``
    (DataParallel / DDP) prefix on every key. ``mmap``: tensors stay on disk until used (to look
    at the keys of a large file)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    what = not_torch_file(path)
    if what:
        raise CheckpointError(
            f"{path}: not a PyTorch checkpoint: {what}, not the zip archive (or older pickle) that torch.save "
            "writes; give a downloaded model .pth file (`avsr models` lists them)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused: it holds more than tensors (weights_only load failed: {str(e).splitlines()[0]}); "
            "avsr never executes checkpoint content. A whole pickled model (torch.save(model)) can be "
            "re-saved as weights where it was made: torch.save(model.state_dict(), PATH)"
        ) from e
    except Exception as e:  # noqa: BLE001 - a damaged pickle or zip fails with many types (KeyError, IndexError ...)
        raise CheckpointError(
            f"{path}: not a readable PyTorch file (truncated or corrupt?): "
            f"{e.__class__.__name__}: {(str(e).splitlines() or [''])[0]}"
        ) from e
    for wrapper in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix) :]: v for k, v in obj.items()}
    return obj
