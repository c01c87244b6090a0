"""Corpus results of a run: one row per system / adapter set x condition (clean first, then
category x SNR), as Markdown, CSV and WER-vs-SNR plots."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from avsr.core.metrics import BOOTSTRAP_RESAMPLES, CONFIDENCE, bootstrap_interval, error_rate
from avsr.evaluation.conditions import CLEAN
from avsr.evaluation.scoring import NORMALISER, corpus_wer, normaliser_name


@dataclass(frozen=True)
class ResultRow:
    """Corpus WER (fractions) of one system / set under one condition, with its bootstrap
    interval and error counts; ``per`` for the lip reader (phoneme error rate), else None."""

    system: str
    set: str
    condition: str
    category: str
    snr: float | None
    wer: float
    ci_low: float
    ci_high: float
    utterances: int
    ref_words: int
    edits: int
    substitutions: int
    deletions: int
    insertions: int
    per: float | None = None


def summarize(
    utterances: Sequence[dict[str, Any]], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> list[ResultRow]:
    """Rows in the order the utterance lines first name each (system, set, condition). Every row
    is bootstrapped with the same seed, so rows over the same utterances use the same draws
    (paired intervals: two sets are compared on identical resamples)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for u in utterances:
        groups.setdefault((u["system"], u["set"], u["condition"]), []).append(u)
    rows = []
    for (system, name, cond), us in groups.items():
        lo, hi = bootstrap_interval([u["edits"] for u in us], [u["ref_words"] for u in us], resamples, seed)
        per = (
            error_rate([u["ref_phonemes"].split() for u in us], [u["hyp_phonemes"].split() for u in us])
            if "ref_phonemes" in us[0]
            else None
        )
        rows.append(
            ResultRow(
                system,
                name,
                cond,
                us[0]["category"],
                us[0]["snr"],
                corpus_wer(us),
                lo,
                hi,
                len(us),
                sum(u["ref_words"] for u in us),
                sum(u["edits"] for u in us),
                sum(u["substitutions"] for u in us),
                sum(u["deletions"] for u in us),
                sum(u["insertions"] for u in us),
                per,
            )
        )
    return rows


def pct(x: float | None, digits: int = 1) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}"


def results_markdown(rows: Sequence[ResultRow]) -> str:
    """The main table: WER with its 95% interval and the error counts, per set x condition."""
    with_per = any(r.per is not None for r in rows)
    head = [
        "system",
        "set",
        "condition",
        "WER %",
        f"{100 * CONFIDENCE:.0f}% CI",
        "utterances",
        "words",
        "sub",
        "del",
        "ins",
    ] + (["PER %"] if with_per else [])
    out = ["| " + " | ".join(head) + " |", "|" + " --- |" * 3 + " ---: |" * (len(head) - 3)]
    for r in rows:
        ci = f"{pct(r.ci_low)}-{pct(r.ci_high)}" if not math.isnan(r.ci_low) else ""
        cells = [
            r.system,
            r.set,
            r.condition,
            pct(r.wer),
            ci,
            str(r.utterances),
            str(r.ref_words),
            str(r.substitutions),
            str(r.deletions),
            str(r.insertions),
        ]
        out.append("| " + " | ".join(cells + ([pct(r.per)] if with_per else [])) + " |")
    return "\n".join(out)


def snr_grid(rows: Sequence[ResultRow]) -> str:
    """Compact WER % grid: one line per (system, set, category), clean then one column per SNR
    (highest first). Empty when no row is noisy."""
    snrs = sorted({r.snr for r in rows if r.snr is not None}, reverse=True)
    if not snrs:
        return ""
    out = [
        "| system | set | noise | clean | " + " | ".join(f"{s:g} dB" for s in snrs) + " |",
        "|" + " --- |" * 3 + " ---: |" * (1 + len(snrs)),
    ]
    cells = {(r.system, r.set, r.category, r.snr): r.wer for r in rows}
    for system, name in dict.fromkeys((r.system, r.set) for r in rows):
        clean = pct(cells.get((system, name, CLEAN, None)))
        for c in dict.fromkeys(r.category for r in rows if r.snr is not None):
            vals = " | ".join(pct(cells.get((system, name, c, s))) for s in snrs)
            out.append(f"| {system} | {name} | {c} | {clean} | {vals} |")
    return "\n".join(out)


def write_csv(rows: Sequence[ResultRow], path: str | os.PathLike, normaliser: str | None = None) -> None:
    """One line per row; rates as fractions (not %), ``snr`` empty for clean; the last column,
    ``normaliser``, names what scored the words (None: the one :func:`~avsr.evaluation.scoring.score`
    uses)."""
    from avsr.core.files import atomic_path

    names = [f.name for f in fields(ResultRow)] + [NORMALISER]
    normaliser = normaliser or normaliser_name()
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, names, lineterminator="\n")
        w.writeheader()
        for r in rows:
            d = asdict(r)
            line = {k: ("" if v is None else (f"{v:.6f}" if isinstance(v, float) else v)) for k, v in d.items()}
            w.writerow({**line, NORMALISER: normaliser})


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_wer_vs_snr(rows: Sequence[ResultRow], path: str | os.PathLike, title: str, by: str = "set") -> bool:
    """WER vs SNR with 95% intervals as error bars. ``by="set"``: one panel per system / adapter
    set, one line per noise category (clean as a dashed line); ``by="category"``: one panel per
    category, one line per set (for comparing sets). Returns False (nothing written) when no
    row is noisy."""
    noisy = [r for r in rows if r.snr is not None]
    if not noisy:
        return False
    plt = _pyplot()
    sets = list(dict.fromkeys((r.system, r.set) for r in rows))
    cats = list(dict.fromkeys(r.category for r in noisy))
    panels = sets if by == "set" else cats
    n = len(panels)
    cols = min(n, 3)
    fig, axes = plt.subplots(
        (n + cols - 1) // cols, cols, figsize=(4.6 * cols, 3.6 * ((n + cols - 1) // cols)), squeeze=False, sharey=True
    )
    clean = {(r.system, r.set): r for r in rows if r.snr is None}
    for k, panel in enumerate(panels):
        ax = axes[k // cols][k % cols]
        lines = cats if by == "set" else sets
        for line in lines:
            (s, c) = (panel, line) if by == "set" else (line, panel)
            pts = sorted(
                (r.snr, r.wer, r.ci_low, r.ci_high) for r in noisy if (r.system, r.set) == s and r.category == c
            )
            if not pts:
                continue
            x, y = [p[0] for p in pts], [100 * p[1] for p in pts]
            err = (
                None
                if any(math.isnan(p[2]) for p in pts)
                else [[100 * max(0.0, p[1] - p[2]) for p in pts], [100 * max(0.0, p[3] - p[1]) for p in pts]]
            )
            label = c if by == "set" else f"{s[1]}"
            eb = ax.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=label)
            if by == "category" and s in clean:
                ax.axhline(100 * clean[s].wer, color=eb[0].get_color(), lw=0.8, ls="--")
        if by == "set" and panel in clean:
            ax.axhline(100 * clean[panel].wer, color="grey", lw=1, ls="--", label="clean")
        ax.invert_xaxis()
        ax.set_title(f"{panel[0]} [{panel[1]}]" if by == "set" else f"{panel}", fontsize=10)
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel("WER (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for k in range(n, len(axes.flat)):
        axes.flat[k].set_visible(False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_confusion(confusion: dict[str, int], classes: Sequence[str], path: str | os.PathLike, title: str) -> None:
    """Row-normalised confusion matrix (true class per row) from ``{"true->pred": count}``,
    each cell labelled with its share and count."""
    plt = _pyplot()
    n = len(classes)
    m = np.zeros((n, n))
    for k, v in confusion.items():
        t, p = k.split("->")
        if t in classes and p in classes:
            m[classes.index(t), classes.index(p)] += v
    share = m / np.maximum(1, m.sum(1, keepdims=True))
    fig, ax = plt.subplots(figsize=(1.2 * n + 1.6, 1.1 * n + 1.2))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{100 * share[i, j]:.0f}%\n({int(m[i, j])})",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.6 else "black",
            )
    ax.set_xticks(range(n), classes, rotation=30, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
