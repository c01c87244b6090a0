"""Noisy evaluation: WER over noise categories x SNRs, and the noise classifier's accuracy.

Deterministic: every mixture is drawn by a :class:`NoiseBank` keyed by (seed, utterance id,
category, SNR), so two runs give identical numbers. References and hypotheses go through the
one normaliser (:func:`avsr.text.normalize`).
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np
import torch

from avsr.data.noise import NoiseBank
from avsr.io import read_audio
from avsr.text import normalize
from avsr.vsr.metrics import error_rate

CLEAN = "clean"


def _mixtures(records: list[dict[str, Any]], bank: NoiseBank, categories: tuple[str, ...], snrs: tuple[float, ...]):
    """Yield (condition (category, snr), record, audio); condition ("clean", None) first."""
    for r in records:
        a = read_audio(r["audio"])
        yield (CLEAN, None), r, a
        for c in categories:
            for s in snrs:
                m, _ = bank.corrupt(f"{r['id']}|{c}|{s}", a, c, float(s))
                yield (c, float(s)), r, m


def noisy_wer(av, records: list[dict[str, Any]], bank: NoiseBank, categories: tuple[str, ...], snrs: tuple[float, ...],
              adapters: tuple[str, ...] = ("none",), batch_size: int = 8, progress: bool = False) -> list[dict[str, Any]]:
    """Rows {"adapter", "category", "snr", "wer", "utterances", "examples"} for every adapter set
    (``none`` = the frozen Whisper) and condition (clean, then each category x SNR)."""
    from tqdm import tqdm

    items = list(_mixtures(records, bank, categories, snrs))
    rows = []
    for name in adapters:
        av.activate(name)
        hyps: list[str] = []
        bar = tqdm(total=len(items), desc=f"WER [{name}]", disable=not progress, unit="mix")
        for s in range(0, len(items), batch_size):
            chunk = items[s : s + batch_size]
            x = torch.zeros(len(chunk), max(len(m) for _, _, m in chunk))
            for i, (_, _, m) in enumerate(chunk):
                x[i, : len(m)] = torch.from_numpy(np.asarray(m, np.float32))
            hyps += av.generate(av.features(x))
            bar.update(len(chunk))
        bar.close()
        by: dict[tuple, list[tuple[str, str, str]]] = {}
        for (cond, r, _), h in zip(items, hyps):
            by.setdefault(cond, []).append((r["id"], r["text"], h))
        for (cat, snr), triples in by.items():
            refs = [normalize(t).split() for _, t, _ in triples]
            hs = [normalize(h).split() for _, _, h in triples]
            rows.append({"adapter": name, "category": cat, "snr": snr, "wer": error_rate(refs, hs), "utterances": len(triples),
                         "examples": [{"id": i, "ref": normalize(t), "hyp": normalize(h)} for i, t, h in triples]})
    av.activate(None)
    return rows


def wer_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one row per (adapter, category), one column per SNR (clean first)."""
    snrs = sorted({r["snr"] for r in rows if r["snr"] is not None}, reverse=True)
    head = "| adapter set | noise | clean | " + " | ".join(f"{s:g} dB" for s in snrs) + " |"
    out = [head, "|" + " --- |" * (3 + len(snrs))]
    clean = {r["adapter"]: r["wer"] for r in rows if r["category"] == CLEAN}
    cells = {(r["adapter"], r["category"], r["snr"]): r["wer"] for r in rows}
    for a in dict.fromkeys(r["adapter"] for r in rows):
        for c in dict.fromkeys(r["category"] for r in rows if r["category"] != CLEAN):
            vals = " | ".join(f"{100 * cells[(a, c, s)]:.1f}" if (a, c, s) in cells else "" for s in snrs)
            out.append(f"| {a} | {c} | {100 * clean[a]:.1f} | {vals} |")
    return "\n".join(out)


def plot_wer(rows: list[dict[str, Any]], path: str | os.PathLike, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    styles = ["-", "--", ":", "-."]
    for j, a in enumerate(dict.fromkeys(r["adapter"] for r in rows)):
        clean = next(r["wer"] for r in rows if r["adapter"] == a and r["category"] == CLEAN)
        for c in dict.fromkeys(r["category"] for r in rows if r["category"] != CLEAN):
            pts = sorted((r["snr"], r["wer"]) for r in rows if r["adapter"] == a and r["category"] == c)
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], styles[j % 4], marker="o", label=f"{c}" + (f" [{a}]" if a != "none" else ""))
        ax.axhline(100 * clean, color="grey", lw=0.8, ls=styles[j % 4])
    ax.invert_xaxis()
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("WER (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def classifier_report(clf, records: list[dict[str, Any]], bank: NoiseBank, categories: tuple[str, ...], snrs: tuple[float, ...]) -> dict[str, Any]:
    """Accuracy, per-class accuracy, confusion counts and SNR mean absolute error (noisy items)
    of the noise classifier on every record x (clean + category x SNR) mixture."""
    confusion: Counter = Counter()
    errs: list[float] = []
    per_snr: dict[float, list[bool]] = {}
    for (cat, snr), _, m in _mixtures(records, bank, categories, snrs):
        p = clf.predict(m)
        confusion[(cat, p["category"])] += 1
        if snr is not None:
            errs.append(abs(p["snr"] - snr))
            per_snr.setdefault(snr, []).append(p["category"] == cat)
    classes = [CLEAN, *categories]
    total = sum(confusion.values())
    correct = sum(v for (t, p), v in confusion.items() if t == p)
    per_class = {c: sum(v for (t, p), v in confusion.items() if t == c and p == c) / max(1, sum(v for (t, _), v in confusion.items() if t == c)) for c in classes}
    return {"accuracy": correct / total, "items": total, "per_class": per_class, "snr_mae_db": float(np.mean(errs)) if errs else None,
            "accuracy_by_snr": {s: float(np.mean(v)) for s, v in sorted(per_snr.items())},
            "confusion": {f"{t}->{p}": v for (t, p), v in sorted(confusion.items())}}
