"""WER of phoneme-to-text decoders against the phoneme error rate of their input.

Held-out sentences -> phonemes (G2P) -> simulated errors at each rate (seeded per sentence, the
same for every decoder) -> each decoder -> WER against the sentence (Whisper's English normaliser for both:
:mod:`avsr.evaluation.scoring`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from avsr.core.metrics import edits, error_rate
from avsr.data.phoneme_errors import ErrorConfig, corrupt, sentence_rng
from avsr.evaluation.scoring import NORMALISER, normaliser_name, words
from avsr.p2t.rescore import CHANNEL_WEIGHTS, PRIOR_WEIGHTS
from avsr.text import BOUNDARY

if TYPE_CHECKING:
    from avsr.p2t.rescore import Candidates

Decoder = Callable[[list[list[str]]], list[str]]
SEED = 1234  # of the simulated errors: every system, and every run, sees the same noisy phonemes
LOOKUP = "dictionary lookup"  # the baseline system's name in rows and tables


def noisy_inputs(
    records: list[dict[str, Any]],
    rate: float,
    errors: ErrorConfig | None = None,
    seed: int = SEED,
    boundaries: bool = True,
) -> list[list[str]]:
    """Each record's ``phonemes`` with simulated recognition errors at ``rate``, seeded per
    sentence id (the same input for every system and every run); ``boundaries=False`` then
    removes every word boundary (a recogniser without a boundary class, as VALLR's)."""
    base = errors or ErrorConfig()
    out = [corrupt(r["phonemes"], replace(base, rate=rate), sentence_rng(seed, r["id"])) for r in records]
    return out if boundaries else [[p for p in ph if p != BOUNDARY] for ph in out]


def wer_vs_per(
    records: list[dict[str, Any]],
    decoders: dict[str, Decoder],
    rates=(0.0, 0.1, 0.2, 0.3),
    errors: ErrorConfig | None = None,
    seed: int = SEED,
    boundaries: bool = True,
) -> list[dict[str, Any]]:
    """records need ``id``, ``text`` and ``phonemes`` (list). One row per (decoder, rate), with
    every sentence's reference, noisy input and hypothesis under ``utterances`` and the
    normaliser that scored them under ``normaliser``; ``boundaries``: see :func:`noisy_inputs`
    (the phoneme error rate is then measured without boundaries on both sides)."""
    rows = []
    refs = [words(r["text"]) for r in records]
    clean = [r["phonemes"] if boundaries else [p for p in r["phonemes"] if p != BOUNDARY] for r in records]
    for rate in rates:
        noisy = noisy_inputs(records, rate, errors, seed, boundaries)
        per = error_rate(clean, noisy)
        for name, dec in decoders.items():
            hyps = [words(h) for h in dec(noisy)]
            rows.append(
                {
                    "system": name,
                    "error_rate": rate,
                    "measured_per": per,
                    "wer": error_rate(refs, hyps),
                    "sentences": len(records),
                    NORMALISER: normaliser_name(),
                    "utterances": [
                        {
                            "id": r["id"],
                            "ref": " ".join(a),
                            "hyp": " ".join(b),
                            "phonemes": " ".join(n),
                            "edits": edits(a, b),
                            "ref_words": len(a),
                        }
                        for r, a, b, n in zip(records, refs, hyps, noisy)
                    ],
                }
            )
    return rows


def differences(rows: list[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Each other system's corpus-WER difference to ``baseline`` at each error rate, with its
    paired-bootstrap 95% interval and the share of draws in which the system is better (rows
    must still hold their ``utterances``)."""
    from avsr.core.metrics import paired_bootstrap

    base = {r["error_rate"]: r for r in rows if r["system"] == baseline}
    out = []
    for r in rows:
        if r["system"] == baseline:
            continue
        b = base[r["error_rate"]]
        assert [u["id"] for u in r["utterances"]] == [u["id"] for u in b["utterances"]]
        pb = paired_bootstrap(
            [u["edits"] for u in r["utterances"]],
            [u["edits"] for u in b["utterances"]],
            [u["ref_words"] for u in b["utterances"]],
        )
        out.append({"system": r["system"], "baseline": baseline, "error_rate": r["error_rate"], **pb})
    return out


def differences_table(diffs: list[dict[str, Any]]) -> str:
    """One line per (system, error rate) against its baseline; the baseline is named in the header
    when all share one, else in a column."""
    one = len({d["baseline"] for d in diffs}) <= 1
    base = (diffs[0]["baseline"] if diffs else "baseline") if one else "baseline"
    lines = [
        "| system |"
        + ("" if one else " baseline |")
        + " phoneme errors | WER difference to "
        + base
        + " [95% CI] | bootstrap draws where the system is better |",
        "| --- |" + ("" if one else " --- |") + " --- | --- | --- |",
    ]
    for d in diffs:
        lines.append(
            f"| {d['system']} |" + ("" if one else f" {d['baseline']} |") + f" {100 * d['error_rate']:.0f}% | "
            f"{100 * d['diff']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] | {100 * d['p_a_better']:.1f}% |"
        )
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    systems = list(dict.fromkeys(r["system"] for r in rows))
    rates = list(dict.fromkeys(r["error_rate"] for r in rows))
    per = {r["error_rate"]: r["measured_per"] for r in rows}
    head = "| phoneme errors (simulated; measured PER) | " + " | ".join(f"{s} WER" for s in systems) + " |"
    lines = [head, "|" + " --- |" * (len(systems) + 1)]
    for rate in rates:
        cells = [
            f"{100 * next(r['wer'] for r in rows if r['system'] == s and r['error_rate'] == rate):.1f}%"
            for s in systems
        ]
        lines.append(f"| {100 * rate:.0f}% ({100 * per[rate]:.1f}%) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(
    rows: list[dict[str, Any]], path: str | os.PathLike, title: str = "Phoneme-to-text: WER vs phoneme error rate"
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    for k, s in enumerate(dict.fromkeys(r["system"] for r in rows)):
        pts = sorted((r["measured_per"], r["wer"]) for r in rows if r["system"] == s)
        style = {"color": "black", "linestyle": "--"} if k == 0 else {}  # the first system is the baseline
        ax.plot([100 * x for x, _ in pts], [100 * y for _, y in pts], marker="o", label=s, **style)
    ax.set_xlabel("phoneme error rate of the input (%)")
    ax.set_ylabel("word error rate (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def tune_weights(
    cands: Sequence[Candidates], refs: Sequence[str]
) -> tuple[dict[str, float], dict[tuple[float, float, float], float]]:
    """With LM priors: the (direct, prior, channel) weights with the lowest corpus WER, over
    direct in {1, 0} (0: a pure noisy channel, prior and phonemes), :data:`PRIOR_WEIGHTS` and
    :data:`CHANNEL_WEIGHTS`, and the WER of each. Ties go to the earlier in that order."""
    from avsr.core.metrics import error_rate

    ref_words = [words(r) for r in refs]
    grid = [(d, p, w) for d in (1.0, 0.0) for p in PRIOR_WEIGHTS for w in CHANNEL_WEIGHTS if d or p]
    wers = {g: error_rate(ref_words, [words(c.best(g[2], g[1], g[0])) for c in cands]) for g in grid}
    d, p, w = min(grid, key=lambda g: round(wers[g], 9))
    return {"direct_weight": d, "prior_weight": p, "channel_weight": w}, wers


def tune_channel_weight(
    cands: Sequence[Candidates], refs: Sequence[str], grid: Sequence[float] = CHANNEL_WEIGHTS
) -> tuple[float, dict[float, float]]:
    """The weight of the grid with the lowest corpus WER on (candidates, reference) pairs, and
    the WER of every weight. Ties go to the smaller weight (the LM's own choice)."""
    from avsr.core.metrics import error_rate

    ref_words = [words(r) for r in refs]
    wers = {w: error_rate(ref_words, [words(c.best(w)) for c in cands]) for w in grid}
    best = min(grid, key=lambda w: (round(wers[w], 9), w))
    return best, wers
