"""Whisper's log-mel features in NumPy: the torch-free path (CTranslate2 engine, noise head).

The same computation as :mod:`avsr.whisper.mel_torch` (25 ms periodic Hann window, 10 ms hop, centred
frames with reflect padding, the last frame dropped, Slaney mel filters, log10, floor at the
clip's max - 8, scaled by (x + 4) / 4), so both engines feed Whisper the same input; the
Slaney filter bank is computed here once for both.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avsr.core.media import SAMPLE_RATE

N_FFT = 400
HOP = 160  # 10 ms -> 100 mel frames per second
N_MELS = 80  # log-mel bins (Whisper v1-v2, the fusion, the noise classifier)
WHISPER_SECONDS = 30  # Whisper's fixed input window
WHISPER_SAMPLES = WHISPER_SECONDS * SAMPLE_RATE
WHISPER_FRAMES = WHISPER_SAMPLES // HOP  # 3000


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, N_FFT // 2 + 1) float32 Slaney-normalised triangular filters from 0 to 8 kHz."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    bins = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    slopes = edges[None, :] - bins[:, None]
    widths = np.diff(edges)
    down, up = -slopes[:, :-2] / widths[:-1], slopes[:, 2:] / widths[1:]
    fb = np.maximum(0.0, np.minimum(down, up)) * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    out = np.ascontiguousarray(fb.T, dtype=np.float32)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann


def log_mel(audio: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """(B, samples) or (samples,) float audio at 16 kHz -> (B, n_mels, samples // HOP) float32
    (the leading dimension kept as given); the floor (max - 8) is taken per clip."""
    x = np.asarray(audio, dtype=np.float32)
    squeeze = x.ndim == 1
    x = x[None] if squeeze else x
    if x.shape[-1] <= N_FFT // 2:
        raise ValueError(f"{x.shape[-1]} samples: too short for a log-mel frame (more than {N_FFT // 2} needed)")
    padded = np.pad(x, ((0, 0), (N_FFT // 2, N_FFT // 2)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=-1)[:, ::HOP][:, :-1]
    power = np.abs(np.fft.rfft(frames * _window(), axis=-1)) ** 2  # (B, T, N_FFT // 2 + 1)
    mel = power.astype(np.float32) @ mel_filters(n_mels).T  # (B, T, n_mels)
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max(axis=(1, 2), keepdims=True) - 8.0)
    out = np.ascontiguousarray(((logs + 4.0) / 4.0).transpose(0, 2, 1), dtype=np.float32)
    return out[0] if squeeze else out


def whisper_input(audio: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """Features of audio zero-padded to 30 s: (…, n_mels, 3000), Whisper's input."""
    x = np.asarray(audio, dtype=np.float32)
    if x.shape[-1] > WHISPER_SAMPLES:
        raise ValueError(
            f"{x.shape[-1] / SAMPLE_RATE:.1f} s of audio: a Whisper window holds 30 s; cut it into segments first"
        )
    pad = [(0, 0)] * (x.ndim - 1) + [(0, WHISPER_SAMPLES - x.shape[-1])]
    return log_mel(np.pad(x, pad), n_mels)
