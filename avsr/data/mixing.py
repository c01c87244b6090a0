"""Noisy speech: mixing at an exact SNR, and a bank of noise sources by category.

Categories (the adapter-based AVSR paper's scenarios):

- ``noise``: environmental / stationary-ish noise recordings;
- ``music``: music recordings;
- ``babble``: several talkers (``babble_talkers``) summed at equal power, with a real crowd
  recording (sources of category ``crowd``, when the split has any) added at equal power to
  ``crowd_prob`` of the mixtures;
- ``sidespeaker``: one interfering talker.

Every random choice for an utterance (category, file(s), offset, SNR) comes from a generator
seeded by ``(seed, utterance id)``, so a noisy corpus or evaluation is the same on every run and
does not depend on the order or the subset of utterances processed. The SNR is exact: the noise
is scaled so that ``10 log10(P_speech / P_noise)`` over the utterance equals the request.

Noise sources are JSONL records ``{"id", "audio", "category", "split", "start", "end"}``
(``start``/``end`` in seconds, optional: one long recording can give disjoint train and test
regions); ``data_prep/noise.py`` writes them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from avsr.core.audio import read_audio
from avsr.core.errors import ConfigError, InputError
from avsr.core.manifest import read_manifest
from avsr.core.media import SAMPLE_RATE
from avsr.data.phoneme_errors import sentence_rng

CATEGORIES = ("babble", "music", "noise", "sidespeaker")
SPEECH_CATEGORIES = ("babble", "sidespeaker")  # built from speech sources (category "speech")
_EPS = 1e-12
_DRAWS = 20  # tries to find a stretch of a noise source that is not silent
_QUIET = 1e-7  # power below -70 dBFS: a pause or fade, not noise to scale up


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """Measured SNR in dB of a speech signal and the noise added to it."""
    return 10.0 * math.log10(max(power(speech), _EPS) / max(power(noise), _EPS))


def scale_to_snr(speech: np.ndarray, noise: np.ndarray, snr: float) -> np.ndarray:
    """``noise`` scaled so that ``snr_db(speech, result) == snr`` (same length as ``speech``)."""
    if len(noise) != len(speech):
        raise InputError(f"noise has {len(noise)} samples, speech {len(speech)}")
    ps, pn = power(speech), power(noise)
    if ps <= _EPS:
        raise InputError("speech is silent: SNR is undefined")
    if pn <= _EPS:
        raise InputError("noise is silent: it cannot be scaled to an SNR")
    return (noise.astype(np.float64) * math.sqrt(ps / (pn * 10.0 ** (snr / 10.0)))).astype(np.float32)


def mix(speech: np.ndarray, noise: np.ndarray, snr: float) -> np.ndarray:
    """speech + noise at exactly ``snr`` dB; float32, not clipped (peaks may exceed 1)."""
    return (speech.astype(np.float32) + scale_to_snr(speech, noise, snr)).astype(np.float32)


def fit_length(x: np.ndarray, n: int, offset: int) -> np.ndarray:
    """``n`` samples of ``x`` from ``offset``, looping over the end."""
    if len(x) == 0:
        raise InputError("empty noise source")
    idx = (offset + np.arange(n)) % len(x)
    return x[idx]


@dataclass(frozen=True)
class NoiseConfig:
    """``snr``: SNR range in dB drawn uniformly (``snr_values`` instead: drawn from that list);
    ``categories``: the ones to draw from, uniformly; ``clean_prob``: share left clean."""

    categories: tuple[str, ...] = CATEGORIES
    snr: tuple[float, float] = (-5.0, 20.0)
    snr_values: tuple[float, ...] = ()
    clean_prob: float = 0.0
    babble_talkers: tuple[int, int] = (4, 10)  # inclusive range of talkers in a babble mixture
    crowd_prob: float = 0.5  # share of babble mixtures that also hold a real crowd bed (if any)
    split: str = "train"
    seed: int = 0

    def __post_init__(self) -> None:
        bad = [c for c in self.categories if c not in CATEGORIES]
        if bad or not self.categories:
            raise ConfigError(f"NoiseConfig.categories: unknown {bad}; choose from {CATEGORIES}")
        if self.snr[0] > self.snr[1]:
            raise ConfigError(f"NoiseConfig.snr: low {self.snr[0]} > high {self.snr[1]}")


def read_sources(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """Noise sources from one or more manifests (noise, music and crowd recordings, talkers of
    category ``speech``), their paths resolved; InputError when a file is missing or unusable."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    recs = []
    for p in paths:
        if not os.path.isfile(p):
            raise InputError(
                f"{p}: no such noise-sources file (data_prep/noise_corpus.py or data_prep/audio.py write them)"
            )
        part = read_manifest(p)
        if any(not {"id", "audio", "category"} <= set(r) for r in part):
            raise InputError(f"{p}: not a noise-sources list (each line needs id, audio, category)")
        recs += part
    return recs


@lru_cache(maxsize=512)
def _load(path: str, start: float, end: float) -> np.ndarray:
    a = read_audio(path)
    if a is None or len(a) == 0:
        raise InputError(f"{path}: no audio")
    s, e = int(start * SAMPLE_RATE), (int(end * SAMPLE_RATE) if end > 0 else len(a))
    return np.ascontiguousarray(a[s:e])


class NoiseBank:
    """Noise sources grouped by category, for one split."""

    def __init__(self, sources: Iterable[dict[str, Any]], cfg: NoiseConfig = NoiseConfig()):
        self.cfg = cfg
        self.by_cat: dict[str, list[dict[str, Any]]] = {}
        for r in sources:
            if r.get("split", cfg.split) == cfg.split:
                self.by_cat.setdefault(r["category"], []).append(r)
        for c in cfg.categories:
            need = "speech" if c in SPEECH_CATEGORIES else c
            if not self.by_cat.get(need):
                raise InputError(f"no {need!r} sources in split {cfg.split!r} (needed for category {c!r})")

    @staticmethod
    def audio(r: dict[str, Any]) -> np.ndarray:
        return _load(os.fspath(r["audio"]), float(r.get("start") or 0.0), float(r.get("end") or 0.0))

    def _pick(
        self, rng: np.random.Generator, cat: str, n: int, exclude: str | None, used: list | None = None
    ) -> np.ndarray:
        pool = [r for r in self.by_cat[cat] if r["id"] != exclude] or self.by_cat[cat]
        for _ in range(_DRAWS):  # a stretch of a recording can be silent (a pause, a fade): draw again
            rec = pool[int(rng.integers(len(pool)))]
            src = self.audio(rec)
            out = fit_length(src, n, int(rng.integers(len(src))))
            if power(out) > _QUIET:
                if used is not None:
                    used.append(rec)
                return out
        raise InputError(f"{_DRAWS} draws of {cat!r} sources were all silent: check the noise manifest")

    def draw(
        self, key: str, speech: np.ndarray, category: str | None = None, snr: float | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """(noise signal scaled to the drawn SNR, description) for utterance ``key``; the
        description has ``category`` (``clean`` when left clean), ``snr`` (None if clean) and
        ``packages``, the source packages of the noise (sorted; a source without one: its id).
        ``category`` / ``snr`` fix those choices (the rest stays seeded by ``key``)."""
        rng = sentence_rng(self.cfg.seed, key)
        n = len(speech)
        if category is None:
            if rng.random() < self.cfg.clean_prob:
                return np.zeros(n, np.float32), {"category": "clean", "snr": None, "packages": []}
            category = self.cfg.categories[int(rng.integers(len(self.cfg.categories)))]
        if snr is None:
            v = self.cfg.snr_values
            snr = float(v[int(rng.integers(len(v)))]) if v else float(rng.uniform(*self.cfg.snr))
        used: list[dict[str, Any]] = []
        if category == "babble":
            lo, hi = self.cfg.babble_talkers
            talkers = [self._pick(rng, "speech", n, key, used) for _ in range(int(rng.integers(lo, hi + 1)))]
            noise = np.sum([t / math.sqrt(max(power(t), _EPS)) for t in talkers], axis=0)
            if self.by_cat.get("crowd") and rng.random() < self.cfg.crowd_prob:
                bed = self._pick(rng, "crowd", n, None, used)
                noise = noise / math.sqrt(max(power(noise), _EPS)) + bed / math.sqrt(max(power(bed), _EPS))
        elif category == "sidespeaker":
            noise = self._pick(rng, "speech", n, key, used)
        else:
            noise = self._pick(rng, category, n, None, used)
        packages = sorted({str(r.get("package") or r["id"]) for r in used})
        return scale_to_snr(speech, noise, snr), {"category": category, "snr": round(snr, 3), "packages": packages}

    def corrupt(
        self, key: str, speech: np.ndarray, category: str | None = None, snr: float | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """(speech + noise, description): see :meth:`draw`."""
        noise, info = self.draw(key, speech, category, snr)
        return (speech.astype(np.float32) + noise).astype(np.float32), info
