"""One evaluation run's output folder, from its scored utterance lines.

``OUT/``
  ``utterances.jsonl``   one line per utterance x system/set x condition (normalised ref/hyp, edits, counts)
  ``results.csv``        one line per system/set x condition: WER, 95% bootstrap interval, counts (fractions),
                         the normaliser
  ``results.md``         what was run and the normaliser, the same as a table, the WER-vs-SNR grid, and
                         published numbers beside this run's
  ``wer_vs_snr.png``     one panel per system/set, one line per noise category (noisy runs only)
  ``wer_by_category.png`` one panel per category, one line per set (noisy runs with several sets)
  ``report.html``        self-contained: tables, plots, worst/median/best utterances with crops and errors coloured
  ``run.json``           what was run (models, manifest, seed, resamples, conditions, normaliser) and the rows

run.json, results.md, results.csv and report.html name the normaliser that scored the words
(``normaliser``: Whisper's English normaliser and the source of its spelling mapping,
:func:`~avsr.evaluation.scoring.normaliser_name`), so numbers scored differently are not compared
unawares.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from avsr.core.metrics import BOOTSTRAP_RESAMPLES
from avsr.evaluation.published import load_published, published_table
from avsr.evaluation.report import write_report
from avsr.evaluation.scoring import NORMALISER, normaliser_name
from avsr.evaluation.tables import ResultRow, plot_wer_vs_snr, results_markdown, snr_grid, summarize, write_csv

UTTERANCES, RESULTS_CSV, RESULTS_MD, REPORT, RUN_JSON = (
    "utterances.jsonl",
    "results.csv",
    "results.md",
    "report.html",
    "run.json",
)
PLOT_BY_SET, PLOT_BY_CATEGORY = "wer_vs_snr.png", "wer_by_category.png"


def write_run(
    out: str | os.PathLike,
    utterances: Sequence[dict[str, Any]],
    records: Sequence[dict[str, Any]],
    info: dict[str, Any],
    corpus: str | None,
    tasks: Sequence[str],
    label: str,
    published: str | os.PathLike | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[list[ResultRow], str]:
    """Write every file above into ``out``; returns the rows and the Markdown of ``results.md``.
    ``utterances`` are lines scored by :func:`~avsr.evaluation.scoring.score`; ``info`` (what was
    run) gains the normaliser that scored them. ``published``: the published-numbers YAML (None:
    no such table); ``label`` names this run in it. A malformed published file raises
    :class:`~avsr.evaluation.published.PublishedError` before anything is written."""
    from avsr.core.files import atomic_path
    from avsr.core.jsonl import write_jsonl

    entries = load_published(published) if published is not None else None
    info = {**info, NORMALISER: normaliser_name()}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / UTTERANCES, utterances)
    rows = summarize(utterances, resamples, seed)
    write_csv(rows, out / RESULTS_CSV, info[NORMALISER])
    title = f"{label} on {info.get('manifest', '?')}"
    plots = [out / PLOT_BY_SET] if plot_wer_vs_snr(rows, out / PLOT_BY_SET, f"{label}: WER vs SNR") else []
    if (
        plots
        and len({(r.system, r.set) for r in rows}) > 1
        and plot_wer_vs_snr(rows, out / PLOT_BY_CATEGORY, f"{label}: adapter sets per noise category", by="category")
    ):
        plots.append(out / PLOT_BY_CATEGORY)
    pub = ""
    if entries is not None:
        pub = (
            published_table(entries, corpus, tasks, rows, label)
            if corpus
            else "Corpus unknown (give --corpus LRS2|LRS3): no published numbers shown."
        )
    tables = [
        ("Corpus WER per set and condition", results_markdown(rows)),
        ("WER % by noise category and SNR", snr_grid(rows)),
        (f"Published {corpus or ''} numbers beside this run".replace("  ", " "), pub),
    ]
    md = [f"# {title}", "", *(f"- {k}: {v}" for k, v in info.items()), ""]
    for heading, table in tables:
        if table:
            md += [f"## {heading}", "", table, ""]
    md += [f"![{p.stem}]({p.name})" for p in plots]
    text = "\n".join(md).rstrip() + "\n"
    with atomic_path(out / RESULTS_MD) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    with atomic_path(out / RUN_JSON) as tmp:
        Path(tmp).write_text(json.dumps({**info, "rows": [_json_row(r) for r in rows]}, indent=1))
    write_report(out / REPORT, title, info, utterances, {r["id"]: r for r in records}, tables, plots)
    return rows, text


def _json_row(r: ResultRow) -> dict[str, Any]:
    """A row for JSON: NaN (no bootstrap) as null, so the file stays standard JSON."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(r).items()}
