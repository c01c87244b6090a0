"""Loading a checkpoint folder of any registered model kind: the stages that register a builder
with :mod:`avsr.core.store` are imported first (``vsr`` by :mod:`avsr.vsr`, ``noise`` by
:mod:`avsr.noise`)."""

from __future__ import annotations

import os

import avsr.noise  # noqa: F401  (registers the "noise" builder)
import avsr.vsr  # noqa: F401  (registers the "vsr" builder)
from avsr.core.store import load_model


def load_checkpoint(path: str | os.PathLike, device: str = "cpu", verify: bool = True):
    """The model of an avsr checkpoint folder (``model.safetensors`` + ``config.json``), in eval mode,
    its sha256 verified. CheckpointError when it is not one."""
    return load_model(path, device=device, verify=verify)
