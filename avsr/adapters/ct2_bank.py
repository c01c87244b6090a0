"""The adapter bank on CTranslate2 alone (:class:`~avsr.adapters.bank.AdapterBank`): a registry
Whisper and audio-only sets, the recognizer's path when no set needs PyTorch.

:class:`~avsr.adapters.torch_bank.AVWhisper` holds the PyTorch Whisper and every set; on the ``ct2``
engine it only computes the log-mel (and the fusion of an audio-visual set) before CTranslate2 takes
over. When no loaded set has a fusion, nothing needs PyTorch at all: :class:`CT2Bank` computes the
log-mel in NumPy (:mod:`avsr.whisper.mel_numpy`), runs each set from a cached CTranslate2 folder
(LoRA merged, :mod:`avsr.adapters.ct2_sets`) and gives a noise head the frozen encoder's arrays from
the same model file. Importing and loading it costs what faster-whisper's does; torch and
transformers are imported only to build a set's folder the first time (then cached).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avsr.adapters.bank import AdapterBank
from avsr.adapters.ct2_sets import RegistrySets
from avsr.adapters.sets import NO_ADAPTER, SIGNATURE, AdapterError, folder_has_fusion, read_set_meta, signature_error
from avsr.whisper.ct2_engine import CT2Whisper
from avsr.whisper.decoding import DecodingOptions, Hypothesis
from avsr.whisper.frozen import FrozenEncoder


class CT2Bank(AdapterBank):
    """A frozen registry Whisper and audio-only adapter sets, on CTranslate2 only (see the module
    docstring). ``set_folders``: the sets' folders (named after their folders)."""

    def __init__(
        self,
        whisper: str,
        set_folders: Sequence[str | os.PathLike] = (),
        compute_type: str = "float32",
        threads: int = 0,
        cache: str | os.PathLike | None = None,
    ):
        from avsr.whisper.ct2_file import model_parts, read_ct2, whisper_dims

        self.whisper_name, self.active = whisper, NO_ADAPTER
        self.meta: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, Path] = {}
        self.ct2 = CT2Whisper(RegistrySets(whisper, self.folders, cache), compute_type=compute_type, threads=threads)
        # the encoder's weights for the noise head; the decoder's only for their sizes (not read)
        _, self._arrays = read_ct2(model_parts(self.ct2.folder(NO_ADAPTER)), lambda n: n.startswith("encoder/"))
        self.dims = whisper_dims(self._arrays)
        self.n_mels = self.dims["num_mel_bins"]
        for folder in map(Path, set_folders):
            self.add(folder)

    def add(self, folder: Path) -> str:
        """Install the set saved in ``folder`` (an audio-only set made for this Whisper)."""
        from avsr.core.store import read_safetensors

        meta = read_set_meta(folder)
        read_safetensors(folder / "adapter_model.safetensors")  # checked now, not when the set is first used
        if folder_has_fusion(folder):
            raise AdapterError(f"{folder}: an audio-visual set needs PyTorch for its fusion (use AVWhisper)")
        sig = {k: self.dims[k] for k in SIGNATURE}
        if meta["whisper"] and {k: meta["whisper"].get(k) for k in sig} != sig:
            raise signature_error(folder, meta, self.whisper_name, sig)
        name = folder.name
        if name in self.meta or name == NO_ADAPTER:
            raise AdapterError(f"adapter set {name!r} is already loaded or reserved")
        self.meta[name], self.folders[name] = meta, folder
        return name

    def frozen_encoder(self) -> FrozenEncoder:
        """The frozen Whisper's encoder arrays (for :class:`~avsr.noise.head_numpy.NumpyNoiseHead`)."""
        return FrozenEncoder(arrays=self._arrays)

    def has_fusion(self, name: str) -> bool:
        return False  # every set here is audio-only

    def features(self, audio: np.ndarray) -> np.ndarray:
        """(B, samples) or (samples,) audio of at most 30 s -> Whisper input (B, n_mels, 3000)."""
        from avsr.whisper.mel_numpy import whisper_input

        x = np.asarray(audio, dtype=np.float32)
        return whisper_input(x[None] if x.ndim == 1 else x, self.n_mels)

    def decode(
        self,
        mel: np.ndarray,
        crops=None,
        video_frames=None,
        audio: list[np.ndarray] | None = None,
        opts: DecodingOptions = DecodingOptions(),
    ) -> list[Hypothesis]:
        """Whisper-grade decoding (:mod:`avsr.whisper.decoding`) with the active set; crops are not used
        (no set here has a fusion)."""
        return self.ct2.decode(self.active, mel, audio, opts)
