"""Evaluation conditions: clean, and each noise category at each SNR, mixed deterministically.

A mixture is drawn by a :class:`~avsr.data.mixing.NoiseBank` (test-split sources) keyed by
(seed, utterance id, category, SNR): the noise file, offset and talkers of every mixture are
fixed, the SNR is exact, and a mixture does not depend on which other utterances or conditions
are evaluated. Two runs give identical numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from avsr.core.errors import InputError, UsageError
from avsr.data.mixing import CATEGORIES, SPEECH_CATEGORIES, NoiseBank, NoiseConfig

CLEAN = "clean"
DEFAULT_SNRS = (10.0, 5.0, 0.0, -5.0, -10.0)  # the adapter-based AVSR paper's test SNRs, after clean
NOISE_SPLIT = "test"  # evaluation mixes in test-split noise only (never a recording used in training)


@dataclass(frozen=True)
class Condition:
    """``category`` ``clean`` (``snr`` None) or a noise category at ``snr`` dB."""

    category: str = CLEAN
    snr: float | None = None

    @property
    def name(self) -> str:
        """``clean`` or ``babble 0 dB``: the form ``eval/published.yaml`` uses."""
        return CLEAN if self.snr is None else f"{self.category} {self.snr:g} dB"

    @property
    def noisy(self) -> bool:
        return self.snr is not None


def parse_snrs(values: Sequence[str | float]) -> tuple[bool, tuple[float, ...]]:
    """``["clean", "10", "0"]`` -> (True, (10.0, 0.0)): whether clean is wanted, and the SNRs."""
    clean, snrs = False, []
    for v in values:
        if str(v).strip().lower() == CLEAN:
            clean = True
            continue
        try:
            snrs.append(float(v))
        except ValueError:
            raise UsageError(f"SNR {v!r}: give numbers in dB or 'clean'") from None
    return clean, tuple(dict.fromkeys(snrs))


def conditions(categories: Sequence[str], snrs: Sequence[float], clean: bool = True) -> list[Condition]:
    """Clean first (when asked), then every category at every SNR in the order given."""
    return ([Condition()] if clean else []) + [Condition(c, float(s)) for c in categories for s in snrs]


def available_categories(sources: Iterable[dict[str, Any]], split: str = NOISE_SPLIT) -> tuple[str, ...]:
    """The categories a noise-sources list can make in ``split``: babble and side-speaker need
    ``speech`` sources, ``noise`` and ``music`` their own recordings."""
    have = {r["category"] for r in sources if r.get("split", split) == split}
    return tuple(c for c in CATEGORIES if ("speech" if c in SPEECH_CATEGORIES else c) in have)


def noise_bank(sources: list[dict[str, Any]], categories: Sequence[str], seed: int) -> NoiseBank:
    """A bank of the test-split sources for ``categories``; ValueError says which is missing."""
    return NoiseBank(sources, NoiseConfig(categories=tuple(categories), split=NOISE_SPLIT, seed=seed))


def condition_audio(bank: NoiseBank | None, utterance_id: str, audio: np.ndarray, cond: Condition) -> np.ndarray:
    """``audio`` under ``cond``: unchanged when clean, else mixed at exactly ``cond.snr`` dB with
    noise drawn for (utterance id, category, SNR)."""
    if not cond.noisy:
        return audio
    if bank is None:
        raise InputError(f"condition {cond.name!r} needs noise sources")
    mixed, _ = bank.corrupt(f"{utterance_id}|{cond.category}|{float(cond.snr)}", audio, cond.category, float(cond.snr))
    return mixed


def mixtures(
    records: Sequence[dict[str, Any]], bank: NoiseBank | None, conds: Sequence[Condition]
) -> Iterator[tuple[Condition, dict[str, Any], np.ndarray]]:
    """(condition, record, audio) for every record (``audio``: a file path) under every condition."""
    from avsr.core.audio import read_audio

    for r in records:
        a = read_audio(r["audio"])
        if a is None or len(a) == 0:
            raise InputError(f"{r['id']}: {r['audio']} has no audio")
        for c in conds:
            yield c, r, condition_audio(bank, r["id"], a, c)


def classifier_report(
    clf, records: Sequence[dict[str, Any]], bank: NoiseBank, categories: Sequence[str], snrs: Sequence[float]
) -> dict[str, Any]:
    """Accuracy, per-class accuracy, confusion counts and SNR mean absolute error (noisy items)
    of the noise classifier on every record x (clean + category x SNR) mixture."""
    import time

    confusion: Counter = Counter()
    errs: list[float] = []
    low: list[tuple[bool, float]] = []  # (correct, signed SNR error) at SNR <= 10 dB
    per_snr: dict[float, list[bool]] = {}
    estimates: dict[float, list[float]] = {}  # true SNR -> the head's estimates (calibration, router cuts)
    seconds = 0.0
    for cond, _, m in mixtures(records, bank, conditions(categories, snrs)):
        t = time.perf_counter()
        p = clf.predict(m)
        seconds += time.perf_counter() - t
        confusion[(cond.category, p["category"])] += 1
        if cond.noisy:
            errs.append(abs(p["snr"] - cond.snr))
            per_snr.setdefault(cond.snr, []).append(p["category"] == cond.category)
            estimates.setdefault(cond.snr, []).append(round(float(p["snr"]), 2))
            if cond.snr <= 10:
                low.append((p["category"] == cond.category, p["snr"] - cond.snr))
    classes = [CLEAN, *categories]
    total = sum(confusion.values())
    correct = sum(v for (t, p), v in confusion.items() if t == p)
    per_class = {
        c: sum(v for (t, p), v in confusion.items() if t == c and p == c)
        / max(1, sum(v for (t, _), v in confusion.items() if t == c))
        for c in classes
    }
    return {
        "accuracy": correct / total,
        "items": total,
        "per_class": per_class,
        "snr_mae_db": float(np.mean(errs)) if errs else None,
        "accuracy_snr_le_10": float(np.mean([c for c, _ in low])) if low else None,
        "snr_mae_db_snr_le_10": float(np.mean([abs(e) for _, e in low])) if low else None,
        # calibration: the mean of estimate - truth (negative: the head reads SNRs low)
        "snr_bias_db_snr_le_10": float(np.mean([e for _, e in low])) if low else None,
        "seconds_per_clip": seconds / max(1, total),
        "classes": classes,
        "accuracy_by_snr": {s: float(np.mean(v)) for s, v in sorted(per_snr.items())},
        "snr_estimates": {s: v for s, v in sorted(estimates.items())},
        "confusion": {f"{t}->{p}": v for (t, p), v in sorted(confusion.items())},
    }
