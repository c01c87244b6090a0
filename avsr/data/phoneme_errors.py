"""Simulated lip-reading errors, for training and testing the phoneme-to-text model on text
alone. A CTC lip reader confuses phonemes that look alike (same viseme group), drops and
inserts phonemes, and loses word boundaries; each is simulated at a configurable rate, seeded
per sentence so a corpus corrupts the same way on every run."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from avsr.text import BOUNDARY, PHONEMES, VISEME_OF, VISEMES


@dataclass(frozen=True)
class ErrorConfig:
    """``rate``: probability that a phoneme (or boundary) is hit by an error; so the phoneme
    error rate of the result is about ``rate``. The shares below split the hits by kind."""

    rate: float = 0.2
    substitute: float = 0.6
    delete: float = 0.25
    insert: float = 0.15
    same_viseme: float = 0.85  # share of substitutions that stay inside the viseme group
    boundary_loss: float = 1.0  # probability that a hit on a word boundary deletes it (else kept)

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"ErrorConfig.rate must be in [0, 1], got {self.rate}")
        if min(self.substitute, self.delete, self.insert) < 0 or self.substitute + self.delete + self.insert <= 0:
            raise ValueError("ErrorConfig shares must be >= 0 and not all zero")


def sentence_rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the sentence's key (e.g. its id)."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _substitute(p: str, cfg: ErrorConfig, rng: np.random.Generator) -> str:
    group = [q for q in VISEMES[VISEME_OF[p]] if q != p]
    if group and rng.random() < cfg.same_viseme:
        return group[int(rng.integers(len(group)))]
    others = [q for q in PHONEMES if q != p]
    return others[int(rng.integers(len(others)))]


def corrupt(phonemes: list[str], cfg: ErrorConfig, rng: np.random.Generator) -> list[str]:
    """A noisy copy of a phoneme sequence (boundaries included)."""
    shares = np.array([cfg.substitute, cfg.delete, cfg.insert], float)
    shares /= shares.sum()
    out: list[str] = []
    for p in phonemes:
        if rng.random() >= cfg.rate:
            out.append(p)
            continue
        if p == BOUNDARY:
            if rng.random() >= cfg.boundary_loss:
                out.append(p)
            continue
        kind = rng.choice(3, p=shares)
        if kind == 0:
            out.append(_substitute(p, cfg, rng))
        elif kind == 2:
            out += [p, _substitute(p, cfg, rng)]
        # kind == 1: deleted
    while out and out[0] == BOUNDARY:
        out.pop(0)
    while out and out[-1] == BOUNDARY:
        out.pop()
    return out
