"""Noise routing: which adapter set fits this audio.

- :mod:`~avsr.noise.head_torch`: ``NoiseHead``, category + SNR from the frozen Whisper's lower
  encoder blocks (the classifier that ships; trained by ``avsr train noise-head``);
- :mod:`~avsr.noise.head_numpy`: ``NumpyNoiseHead``, the same head in NumPy on a CTranslate2
  Whisper's arrays (the default path; no torch), with the config, classes and decision both share;
- :mod:`~avsr.noise.logmel_classifier`: ``NoiseClassifier``, the paper's stand-alone classifier
  (log-mel -> transformer -> category + SNR; trained by ``avsr train noise``; none ships: it is
  the baseline the head is compared with in docs/noise_adapters.md);
- :mod:`~avsr.noise.router`: a noise estimate -> an adapter set name, through a rule table.

:func:`load_noise_classifier` loads a checkpoint of either kind onto a bank's frozen Whisper.
Importing the package is cheap (no torch); it registers the ``noise`` and ``noise-head``
checkpoint builders with :mod:`avsr.core.store`.
"""

from __future__ import annotations

import os

from avsr.core.store import register_builder
from avsr.whisper.frozen import FrozenEncoder


def _build_noise_classifier(config: dict):
    from avsr.core.configs import from_dict
    from avsr.noise.logmel_classifier import NoiseClassifier, NoiseClassifierConfig

    return NoiseClassifier(from_dict(NoiseClassifierConfig, config))


def _build_noise_head(config: dict):
    from avsr.core.configs import from_dict
    from avsr.noise.head_torch import NoiseHead, WhisperNoiseConfig

    return NoiseHead(from_dict(WhisperNoiseConfig, config))


register_builder("noise", _build_noise_classifier)
register_builder("noise-head", _build_noise_head)


def checkpoint_kind(path: str | os.PathLike) -> str:
    """``noise-head`` or ``noise`` (what the checkpoint folder says it is)."""
    from avsr.core.store import read_config

    return read_config(path)["kind"]


def load_noise_classifier(path: str | os.PathLike, frozen: FrozenEncoder, device: str = "cpu"):
    """The noise classifier in checkpoint folder ``path`` (sha256 verified), ready to ``predict``:
    a noise head reads ``frozen`` (in NumPy when it holds CTranslate2 arrays, else in PyTorch on
    its module); a stand-alone classifier needs nothing of it."""
    from avsr.core.errors import CheckpointError
    from avsr.core.store import load_model

    head = checkpoint_kind(path) == "noise-head"
    if head and frozen.arrays is not None:
        from avsr.noise.head_numpy import NumpyNoiseHead

        return NumpyNoiseHead.from_checkpoint(path, frozen.arrays)
    model = load_model(path, device=device)
    if head:
        if frozen.module is None:
            raise CheckpointError(f"{path}: a noise head needs the frozen Whisper it was trained on")
        model.attach(frozen.module, frozen.plain)
    return model


__all__ = ["head_torch", "head_numpy", "logmel_classifier", "router", "load_noise_classifier", "checkpoint_kind"]
