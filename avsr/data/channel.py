"""Recording-channel augmentation: what changes how a mixture was recorded, never what is in it.

A noise head that learnt the packages' recording chains (their bandwidth, their microphones,
their rooms) names a noise by its channel and fails on recordings it never heard; these
transforms are drawn independently of the category, so the channel carries no information about
it. Each is applied with its own probability (:class:`ChannelConfig`), in this order:

- **room**: convolution with a real room impulse response (``rirs``: 16 kHz WAVs, e.g.
  ``../shared/data/rir``), the direct-path level kept;
- **equaliser**: a smooth random gain curve over frequency (a few dB up or down in a handful of
  bands on a log-frequency axis: microphone and loudspeaker colour);
- **band limits**: a high-pass at 50-300 Hz and a low-pass at 3.4-7.5 kHz (telephone, MP3, 11
  and 16 kHz sources);
- **codec**: a round trip through 8-bit mu-law at 8 kHz (telephony) or a sample-rate round trip
  through 8, 11.025 or 12 kHz;
- **level**: a gain of -20..+6 dB with hard clipping at full scale.

All draws come from the ``rng`` passed in, so a seeded example stays the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from avsr.core.media import SAMPLE_RATE


@dataclass(frozen=True)
class ChannelConfig:
    """Probabilities and ranges of each transform (0: never)."""

    room_prob: float = 0.3
    rirs: tuple[str, ...] = ()
    eq_prob: float = 0.5
    eq_db: float = 6.0  # largest boost or cut of a band
    eq_bands: int = 6
    band_prob: float = 0.5
    highpass_hz: tuple[float, float] = (50.0, 300.0)
    lowpass_hz: tuple[float, float] = (3400.0, 7500.0)
    codec_prob: float = 0.2
    level_prob: float = 0.5
    level_db: tuple[float, float] = (-20.0, 6.0)


def _spectrum_gain(n: int, curve) -> np.ndarray:
    freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
    return curve(freqs)


def _filter(x: np.ndarray, gain: np.ndarray) -> np.ndarray:
    return np.fft.irfft(np.fft.rfft(x) * gain, len(x)).astype(np.float32)


def equalise(x: np.ndarray, rng: np.random.Generator, max_db: float, bands: int) -> np.ndarray:
    """A smooth random gain curve: ``bands`` control points on a log-frequency axis (50 Hz-8 kHz),
    each within +-``max_db``, interpolated."""
    points = np.geomspace(50.0, SAMPLE_RATE / 2, bands)
    db = rng.uniform(-max_db, max_db, bands)

    def curve(f):
        return 10 ** (np.interp(np.log(np.maximum(f, 50.0)), np.log(points), db) / 20)

    return _filter(x, _spectrum_gain(len(x), curve))


def band_limit(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    """Everything below ``low_hz`` and above ``high_hz`` removed (ideal filters, frequency domain)."""
    return _filter(x, _spectrum_gain(len(x), lambda f: ((f >= low_hz) & (f <= high_hz)).astype(np.float64)))


@lru_cache(maxsize=16)
def _rir(path: str) -> np.ndarray:
    from avsr.core.audio import read_audio

    h = read_audio(path)
    if h is None or len(h) == 0:
        raise ValueError(f"{path}: empty impulse response")
    peak = int(np.argmax(np.abs(h)))
    return (h[peak:] / np.abs(h[peak])).astype(np.float32)  # direct path first, at unit level


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``x`` convolved with ``rir`` (same length, direct path aligned)."""
    n = len(x) + len(rir) - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(rir, size), size)[: len(x)]
    return y.astype(np.float32)


def resample_round_trip(x: np.ndarray, rate: float) -> np.ndarray:
    """Down to ``rate`` and back up to 16 kHz (linear interpolation after an ideal low-pass)."""
    y = band_limit(x, 0.0, rate / 2)
    t = np.arange(0, len(x), SAMPLE_RATE / rate)
    low = np.interp(t, np.arange(len(x)), y)
    return np.interp(np.arange(len(x)), t, low).astype(np.float32)


def mu_law_round_trip(x: np.ndarray, mu: int = 255) -> np.ndarray:
    """8-bit mu-law at 8 kHz and back (G.711-like telephony)."""
    y = resample_round_trip(x, 8000.0)
    peak = max(float(np.abs(y).max()), 1e-9)
    c = np.sign(y / peak) * np.log1p(mu * np.abs(y / peak)) / np.log1p(mu)
    q = np.round((c + 1) / 2 * mu) / mu * 2 - 1
    return (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu * peak).astype(np.float32)


def apply_channel(x: np.ndarray, rng: np.random.Generator, cfg: ChannelConfig) -> tuple[np.ndarray, list[str]]:
    """``x`` through a randomly drawn recording channel; also the names of the transforms applied."""
    steps = []
    if cfg.rirs and rng.random() < cfg.room_prob:
        rir = _rir(cfg.rirs[int(rng.integers(len(cfg.rirs)))])
        steps.append(("room", lambda y: reverberate(y, rir)))
    if rng.random() < cfg.eq_prob:
        eq_rng = np.random.default_rng(rng.integers(1 << 31))
        steps.append(("eq", lambda y: equalise(y, eq_rng, cfg.eq_db, cfg.eq_bands)))
    if rng.random() < cfg.band_prob:
        low, high = rng.uniform(*cfg.highpass_hz), rng.uniform(*cfg.lowpass_hz)
        steps.append(("band", lambda y: band_limit(y, low, high)))
    if rng.random() < cfg.codec_prob:
        if rng.random() < 0.5:
            steps.append(("mu-law", mu_law_round_trip))
        else:
            rate = float(rng.choice([8000.0, 11025.0, 12000.0]))
            steps.append(("resample", lambda y: resample_round_trip(y, rate)))
    if rng.random() < cfg.level_prob:
        gain = 10 ** (rng.uniform(*cfg.level_db) / 20)
        steps.append(("level", lambda y: np.clip(y * gain, -1.0, 1.0).astype(np.float32)))
    for _, step in steps:
        x = step(x)
    return x, [name for name, _ in steps]
