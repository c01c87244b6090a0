"""Whisper and its audio-only adapter sets on CTranslate2 alone: the recognizer's path when no
set needs PyTorch.

:class:`~avsr.av.model.AVWhisper` holds the PyTorch Whisper and every set; on the ``ct2`` engine
it only computes the log-mel (and the fusion of an audio-visual set) before CTranslate2 takes
over. When no loaded set has a fusion, nothing needs PyTorch at all: :class:`CT2Bank` offers the
same interface to :class:`~avsr.recognizers.audiovisual.AVRecognizer` (``sets``, ``meta``,
``activate``, ``features``, ``decode``) with the log-mel in NumPy (:mod:`avsr.av.mel`), each set a
cached CTranslate2 folder (LoRA merged), and the noise head in NumPy on the same model file
(:mod:`avsr.av.noise_head`). Importing and loading it costs what faster-whisper's does; torch
and transformers are imported only to build a set's folder the first time (then cached).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avsr.av.ct2_cache import NO_SET, cache_root, cached_set, folder_hash, registry_folder, registry_key
from avsr.av.ct2_engine import CT2Whisper
from avsr.av.decoding import DecodingOptions, Hypothesis
from avsr.av.sets import SIGNATURE, AdapterError, has_fusion, read_set_meta, signature_error


def registry_whisper(name: str) -> bool:
    """Whether ``name`` is a Whisper of the registry (what :class:`CT2Bank` runs)."""
    from avsr.core.registry import registry

    return registry().get(name, {}).get("kind") == "whisper"


class RegistrySets:
    """The CTranslate2 folders of registry Whisper ``whisper`` and the sets in ``folders``: the
    registry's own model for ``none``; a set's cached folder (keyed by the Whisper's sha256 and the
    set's content hash), converted once through PyTorch (:class:`~avsr.av.ct2_cache.TorchSets`)
    when the cache has no whole one."""

    def __init__(self, whisper: str, folders: dict[str, Path], cache: str | os.PathLike | None = None):
        self.whisper, self.folders, self.cache = whisper, folders, cache_root(cache)

    def __call__(self, name: str = NO_SET) -> Path:
        if name == NO_SET:
            return registry_folder(self.whisper, self.cache)
        folder = self.folders[name]
        return cached_set(
            self.cache,
            registry_key(self.whisper),
            name,
            folder_hash(folder),
            lambda tmp: self._convert(name, tmp),
        )

    def _convert(self, name: str, tmp: Path) -> None:
        from avsr.av.ct2_cache import convert_torch, merged_whisper
        from avsr.av.model import AVWhisper
        from avsr.av.whisper import load_whisper

        model, proc = load_whisper(self.whisper)
        av = AVWhisper(model, proc, self.whisper)
        av.load_set(self.folders[name], name)
        convert_torch(merged_whisper(av, name), proc, tmp)


class CT2Bank:
    """A frozen registry Whisper and audio-only adapter sets, on CTranslate2 only (see the module
    docstring). ``set_folders``: the sets' folders (named after their folders)."""

    peft = None

    def __init__(
        self,
        whisper: str,
        set_folders: Sequence[str | os.PathLike] = (),
        compute_type: str = "float32",
        threads: int = 0,
        cache: str | os.PathLike | None = None,
    ):
        from avsr.av.ct2 import model_parts, read_ct2, whisper_dims

        self.whisper_name, self.active = whisper, NO_SET
        self.fusions: dict[str, Any] = {}  # audio-only sets: no fusion
        self.meta: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, Path] = {}
        self.ct2 = CT2Whisper(RegistrySets(whisper, self.folders, cache), compute_type=compute_type, threads=threads)
        # the encoder's weights for the noise head; the decoder's only for their sizes (not read)
        _, self._arrays = read_ct2(model_parts(self.ct2.folder(NO_SET)), lambda n: n.startswith("encoder/"))
        self.dims = whisper_dims(self._arrays)
        self.n_mels = self.dims["num_mel_bins"]
        for folder in map(Path, set_folders):
            self.add(folder)

    def add(self, folder: Path) -> str:
        """Install the set saved in ``folder`` (an audio-only set made for this Whisper)."""
        from avsr.core.store import read_safetensors

        meta = read_set_meta(folder)
        read_safetensors(folder / "adapter_model.safetensors")  # checked now, not when the set is first used
        if has_fusion(folder):
            raise AdapterError(f"{folder}: an audio-visual set needs PyTorch for its fusion (use AVWhisper)")
        sig = {k: self.dims[k] for k in SIGNATURE}
        if meta["whisper"] and {k: meta["whisper"].get(k) for k in sig} != sig:
            raise signature_error(folder, meta, self.whisper_name, sig)
        name = folder.name
        if name in self.meta or name == NO_SET:
            raise AdapterError(f"adapter set {name!r} is already loaded or reserved")
        self.meta[name], self.folders[name] = meta, folder
        return name

    def whisper_arrays(self) -> dict[str, np.ndarray]:
        """The frozen Whisper's arrays (for :class:`~avsr.av.noise_head.NumpyNoiseHead`)."""
        return self._arrays

    @property
    def sets(self) -> list[str]:
        return sorted(self.meta)

    def eval(self) -> CT2Bank:
        return self

    def activate(self, name: str | None) -> None:
        name = name or NO_SET
        if name != NO_SET and name not in self.meta:
            raise AdapterError(f"no adapter set {name!r}; installed: {', '.join(self.sets) or 'none'}")
        self.active = name

    def features(self, audio: np.ndarray) -> np.ndarray:
        """(B, samples) or (samples,) audio of at most 30 s -> Whisper input (B, n_mels, 3000)."""
        from avsr.av.mel import whisper_input

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
        """Whisper-grade decoding (:mod:`avsr.av.decoding`) with the active set; crops are not used
        (no set here has a fusion)."""
        return self.ct2.decode(self.active, mel, audio, opts)
