"""The adapter bank, declared once: a frozen Whisper and named LoRA sets (one per noise scenario),
one of them active at a time (``none``: the plain frozen Whisper), and what a recogniser asks of
it. Two banks implement it:

- :class:`~avsr.adapters.torch_bank.AVWhisper`: PyTorch (training, GPUs, audio-visual sets with
  their fusion; decodes on PyTorch or, after ``use_ct2``, on CTranslate2);
- :class:`~avsr.adapters.ct2_bank.CT2Bank`: a registry Whisper and audio-only sets on CTranslate2
  alone (NumPy log-mel; no torch imported).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from avsr.adapters.sets import NO_ADAPTER, AdapterError
from avsr.whisper.decoding import DecodingOptions, Hypothesis
from avsr.whisper.frozen import FrozenEncoder


class AdapterBank(ABC):
    """``whisper_name``: the Whisper the sets were made for; ``meta``: each loaded set's
    metadata (``avsr_adapter.json``), by name; ``active``: the set in use; ``n_mels``: the
    log-mel bins the Whisper takes."""

    whisper_name: str
    meta: dict[str, dict[str, Any]]
    active: str
    n_mels: int

    @property
    def sets(self) -> list[str]:
        """The loaded sets' names, sorted."""
        return sorted(self.meta)

    def activate(self, name: str | None) -> None:
        """Make ``name`` the active set (``none`` or None: the plain frozen Whisper); cheap."""
        name = name or NO_ADAPTER
        if name != NO_ADAPTER and name not in self.meta:
            raise AdapterError(f"no adapter set {name!r}; installed: {', '.join(self.sets) or 'none'}")
        self._switch(name)
        self.active = name

    def _switch(self, name: str) -> None:  # noqa: B027 (a hook: most banks need nothing here)
        """Whatever the runtime must do to make ``name`` active (nothing by default)."""

    @abstractmethod
    def has_fusion(self, name: str) -> bool:
        """Whether set ``name`` is audio-visual (it takes mouth crops through its fusion)."""

    @property
    def uses_video(self) -> bool:
        """Whether any loaded set takes mouth crops (else none need to be cut)."""
        return any(self.has_fusion(n) for n in self.meta)

    @abstractmethod
    def features(self, audio: np.ndarray) -> Any:
        """(B, samples) or (samples,) 16 kHz audio of at most 30 s -> Whisper input (B, n_mels, 3000)."""

    @abstractmethod
    def decode(
        self,
        mel: Any,
        crops: Any = None,
        video_frames: Any = None,
        audio: list[np.ndarray] | None = None,
        opts: DecodingOptions = DecodingOptions(),
    ) -> list[Hypothesis]:
        """Whisper-grade decoding (:mod:`avsr.whisper.decoding`) of a batch of :meth:`features`
        with the active set; ``crops`` (B, T, 88, 88) uint8 and ``video_frames`` (B,) enter an
        audio-visual set's fusion; ``audio``: each row's samples."""

    @abstractmethod
    def frozen_encoder(self) -> FrozenEncoder:
        """The frozen Whisper's encoder, as a noise head reads it (no set active)."""

    def torch_modules(self) -> dict[str, Any]:
        """Its PyTorch modules by name, for Lightning to place (none on CTranslate2 alone)."""
        return {}
