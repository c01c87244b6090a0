"""Whisper's log-mel features in torch, for batches and for any length (NumPy twin: :mod:`avsr.whisper.mel_numpy`).

``log_mel(audio)`` computes what ``WhisperFeatureExtractor`` computes (25 ms Hann window, 10 ms
hop, Slaney mel filters, log10, floor at max - 8 dB*, scaled by (x + 4) / 4), but on a batch of
tensors and without forcing a 30 s window; :func:`whisper_input` pads to Whisper's 3000 frames
exactly as the extractor does, so the frozen Whisper sees identical input. The noise classifier
uses the same features on unpadded clips.

(* in log10 units: 8 = 80 dB)
"""

from __future__ import annotations

import numpy as np
import torch

from avsr.core.media import SAMPLE_RATE
from avsr.whisper.mel_numpy import HOP, N_FFT, N_MELS, WHISPER_FRAMES, WHISPER_SAMPLES, WHISPER_SECONDS
from avsr.whisper.mel_numpy import mel_filters as _np_filters

__all__ = ["HOP", "N_FFT", "N_MELS", "WHISPER_FRAMES", "WHISPER_SAMPLES", "WHISPER_SECONDS", "log_mel", "whisper_input"]


def mel_filters(n_mels: int) -> torch.Tensor:
    """(n_mels, N_FFT // 2 + 1) Slaney-normalised mel filter bank, as Whisper's
    (:func:`avsr.whisper.mel_numpy.mel_filters`)."""
    return torch.from_numpy(_np_filters(n_mels).copy())


def log_mel(audio: torch.Tensor | np.ndarray, n_mels: int = N_MELS) -> torch.Tensor:
    """(B, samples) or (samples,) float audio at 16 kHz -> (B, n_mels, samples // HOP) features
    (the leading dimension kept as given). The floor (max - 8) is taken per clip."""
    x = torch.as_tensor(audio, dtype=torch.float32)
    squeeze = x.ndim == 1
    x = x[None] if squeeze else x
    window = torch.hann_window(N_FFT, device=x.device)
    spec = torch.stft(x, N_FFT, HOP, window=window, return_complex=True)[..., :-1].abs() ** 2
    mel = mel_filters(n_mels).to(x.device) @ spec
    logs = mel.clamp(min=1e-10).log10()
    logs = torch.maximum(logs, logs.amax(dim=(1, 2), keepdim=True) - 8.0)
    out = (logs + 4.0) / 4.0
    return out[0] if squeeze else out


def whisper_input(audio: torch.Tensor | np.ndarray, n_mels: int = N_MELS) -> torch.Tensor:
    """Features of audio zero-padded (or cut) to 30 s: (…, n_mels, 3000), Whisper's input."""
    x = torch.as_tensor(audio, dtype=torch.float32)
    if x.shape[-1] > WHISPER_SAMPLES:
        raise ValueError(
            f"{x.shape[-1] / SAMPLE_RATE:.1f} s of audio: a Whisper window holds 30 s; cut it into segments first"
        )
    x = torch.nn.functional.pad(x, (0, WHISPER_SAMPLES - x.shape[-1]))
    return log_mel(x, n_mels)
