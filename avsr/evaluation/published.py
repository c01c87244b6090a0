"""Published LRS2/LRS3 numbers (``eval/published.yaml``) beside a run's own.

The file is a YAML list of entries with the keys of :data:`KEYS`; every entry names where its
number was read (``source``). Different papers use different noise files, mixing and splits, so
a noisy published number is a landmark, not a like-for-like comparison.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avsr.core.errors import InputError
from avsr.evaluation.conditions import CLEAN
from avsr.evaluation.tables import ResultRow, pct

KEYS = ("system", "paper", "arxiv", "corpus", "task", "condition", "wer", "labelled_hours", "source", "notes")
CORPORA = ("LRS2", "LRS3")
TASKS = ("vsr", "asr", "avsr")
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "eval" / "published.yaml"  # in a source checkout
# published condition words -> this package's noise categories. Simic et al.'s "natural" noise is
# MUSAN's noise part, which is what the `noise` category mixes in.
CATEGORY_ALIASES = {"natural": "noise", "side-speaker": "sidespeaker", "side speaker": "sidespeaker"}


class PublishedError(InputError):
    pass


def load_published(path: str | os.PathLike = DEFAULT_PATH) -> list[dict[str, Any]]:
    """The entries of a published-numbers YAML, checked: every key present, corpus one of
    :data:`CORPORA`, task one of :data:`TASKS`, WER a number, a non-empty source."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise PublishedError(f"{path}: no such published-numbers file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise PublishedError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(data, list):
        raise PublishedError(f"{path}: expected a YAML list of entries, got {type(data).__name__}")
    for i, e in enumerate(data, 1):
        where = f"{path}: entry {i}" + (f" ({e.get('system')})" if isinstance(e, dict) and e.get("system") else "")
        if not isinstance(e, dict):
            raise PublishedError(f"{where}: not a mapping")
        missing = [k for k in KEYS if k not in e]
        if missing:
            raise PublishedError(f"{where}: missing {', '.join(missing)} (every entry has {', '.join(KEYS)})")
        if e["corpus"] not in CORPORA or e["task"] not in TASKS:
            raise PublishedError(
                f"{where}: corpus must be one of {CORPORA} and task one of {TASKS}, got {e['corpus']!r} / {e['task']!r}"
            )
        if not isinstance(e["wer"], (int, float)) or isinstance(e["wer"], bool) or not str(e["source"] or "").strip():
            raise PublishedError(f"{where}: wer must be a number (percent) and source must say where it was read")
    return data


def guess_corpus(path: str | os.PathLike) -> str | None:
    """``LRS2`` or ``LRS3`` when exactly one of them is named in ``path``, else None."""
    s = os.fspath(path).lower()
    found = [c for c in CORPORA if c.lower() in s]
    return found[0] if len(found) == 1 else None


def canonical_condition(text: str) -> str:
    """``Natural 0 dB`` -> ``noise 0 dB``, ``babble -5.0 db`` -> ``babble -5 dB``; ``clean`` stays;
    anything else is returned with its spacing collapsed."""
    t = " ".join(str(text).split())
    m = re.fullmatch(r"(.+?)\s*(-?\d+(?:\.\d+)?)\s*db", t, flags=re.IGNORECASE)
    if t.lower() == CLEAN or not m:
        return CLEAN if t.lower() == CLEAN else t
    cat = m.group(1).lower()
    return f"{CATEGORY_ALIASES.get(cat, cat)} {float(m.group(2)):g} dB"


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _fmt_wer(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x < 1 else f"{x:.1f}"


def published_table(
    entries: Sequence[dict[str, Any]], corpus: str, tasks: Sequence[str], rows: Sequence[ResultRow], label: str
) -> str:
    """Markdown: for each condition that has published entries for ``corpus`` and ``tasks``
    (clean first), this run's rows under that condition, then the published ones (lowest WER
    first), each with its source. ``label`` names this run (e.g. ``asr whisper-base``)."""
    mine = [e for e in entries if e["corpus"] == corpus and e["task"] in tasks]
    if not mine:
        return f"No published {corpus} numbers for {'/'.join(tasks)} in the table."
    conds = list(
        dict.fromkeys(
            canonical_condition(e["condition"])
            for e in sorted(mine, key=lambda e: canonical_condition(e["condition"]) != CLEAN)
        )
    )
    out = [
        "| condition | system | task | WER % | labelled h | source | notes |",
        "| --- | --- | --- | ---: | ---: | --- | --- |",
    ]
    for cond in conds:
        for r in rows:
            if canonical_condition(r.condition) == cond:
                ci = "" if math.isnan(r.ci_low) else f"; 95% CI {pct(r.ci_low)}-{pct(r.ci_high)}"
                out.append(
                    f"| {cond} | **this run: {label} [{r.set}]** | {r.system} | **{pct(r.wer)}** | "
                    f"| this run ({r.utterances} utterances{ci}) | |"
                )
        for e in sorted(
            (e for e in mine if canonical_condition(e["condition"]) == cond), key=lambda e: (e["task"], e["wer"])
        ):
            hours = "" if e["labelled_hours"] is None else f"{e['labelled_hours']:g}"
            name = (
                f"{e['system']} ({e['paper']}, arXiv {e['arxiv']})"
                if e.get("arxiv")
                else f"{e['system']} ({e['paper']})"
            )
            said = " ".join(str(e["condition"]).split())
            where = cond if said == cond else f"{cond} (paper: {_cell(said)})"
            out.append(
                f"| {where} | {_cell(name)} | {e['task']} | {_fmt_wer(float(e['wer']))} | {hours} "
                f"| {_cell(e['source'])} | {_cell(e['notes'] or '')} |"
            )
    return "\n".join(out)
