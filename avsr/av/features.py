"""Whisper's log-mel features in torch, for batches and for any length.

``log_mel(audio)`` computes what ``WhisperFeatureExtractor`` computes (25 ms Hann window, 10 ms
hop, Slaney mel filters, log10, floor at max - 8 dB*, scaled by (x + 4) / 4), but on a batch of
tensors and without forcing a 30 s window; :func:`whisper_input` pads to Whisper's 3000 frames
exactly as the extractor does, so the frozen Whisper sees identical input. The noise classifier
uses the same features on unpadded clips.

(* in log10 units: 8 = 80 dB)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from avsr.core.media import SAMPLE_RATE

N_FFT = 400
HOP = 160  # 10 ms -> 100 mel frames per second
N_MELS = 80  # log-mel bins (Whisper v1-v2, the fusion, the noise classifier)
WHISPER_SECONDS = 30  # Whisper's fixed input window
WHISPER_SAMPLES = WHISPER_SECONDS * SAMPLE_RATE
WHISPER_FRAMES = WHISPER_SAMPLES // HOP  # 3000


@lru_cache(maxsize=4)
def mel_filters(n_mels: int) -> torch.Tensor:
    """(n_mels, N_FFT // 2 + 1) Slaney-normalised mel filter bank, as Whisper's."""
    from transformers.audio_utils import mel_filter_bank

    fb = mel_filter_bank(
        num_frequency_bins=N_FFT // 2 + 1,
        num_mel_filters=n_mels,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=SAMPLE_RATE,
        norm="slaney",
        mel_scale="slaney",
    )
    return torch.from_numpy(np.ascontiguousarray(fb.T, dtype=np.float32))


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
