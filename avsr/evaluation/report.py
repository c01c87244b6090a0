"""``report.html``: one self-contained page per run (no file beside it is needed): the results
tables, the plots, and for every system / set x condition its worst, median and best utterance,
each with a strip of its mouth crops and the reference and hypothesis aligned word by word,
errors coloured (substitution, deletion, insertion)."""

from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avsr.core.metrics import CORRECT, DELETION, INSERTION, SUBSTITUTION, align
from avsr.evaluation.conditions import CLEAN

STRIP_FRAMES = 8  # crops shown per utterance, evenly spaced over the clip
COLOURS = {SUBSTITUTION: "#f5c542", DELETION: "#f28b82", INSERTION: "#8ab4f8"}  # legend colours
_CLASS = {CORRECT: "c", SUBSTITUTION: "s", DELETION: "d", INSERTION: "i"}
_GAP = "\u2014"  # shown where one side of the alignment has no word
_BOLD = re.compile(r"[*][*](.+?)[*][*]")

_CSS = (
    """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1150px;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f2f2f2}img.plot{max-width:100%;border:1px solid #ddd;margin:.4em 0}
.utt{border-top:1px solid #ddd;padding:.5em 0}.meta{color:#555;font-size:13px}
.strip{background-repeat:no-repeat;margin:.3em 0;image-rendering:pixelated}
.al{display:flex;flex-wrap:wrap;gap:3px;font-family:ui-monospace,monospace;font-size:13px}
.w{display:inline-flex;flex-direction:column;padding:1px 4px;border-radius:3px}.w span:last-child{color:#444}
.w.s{background:SUB}.w.d{background:DEL}.w.i{background:INS}
.legend span{padding:1px 6px;margin-right:6px;border-radius:3px}\
details{margin:.4em 0}summary{cursor:pointer;font-weight:600}
""".replace("SUB", COLOURS[SUBSTITUTION])
    .replace("DEL", COLOURS[DELETION])
    .replace("INS", COLOURS[INSERTION])
)


def crop_strip(crops: np.ndarray, n: int = STRIP_FRAMES) -> np.ndarray:
    """``n`` crops evenly spaced over the clip ((T, H, W) uint8 grey), side by side with 2 px
    white gaps: (H, n * W + 2 * (n - 1)) uint8 (fewer frames when the clip has fewer)."""
    if len(crops) == 0:
        raise ValueError("no crops")
    idx = np.unique(np.linspace(0, len(crops) - 1, n).round().astype(int))
    gap = np.full((crops.shape[1], 2) + crops.shape[3:], 255, np.uint8)
    return np.concatenate([x for i in idx for x in (crops[i], gap)][:-1], axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def alignment_html(ref: str, hyp: str) -> str:
    """Reference over hypothesis, one column per aligned word; class ``s`` / ``d`` / ``i`` marks a
    substitution, deletion, insertion (``c`` correct)."""
    cols = []
    for a in align(ref.split(), hyp.split()):
        r, h = html.escape(a.ref or _GAP), html.escape(a.hyp or _GAP)
        cols.append(f'<span class="w {_CLASS[a.op]}" title="{a.op}"><span>{r}</span><span>{h}</span></span>')
    return f'<div class="al">{"".join(cols)}</div>'


def utterance_wer(u: dict[str, Any]) -> float:
    return u["edits"] / max(u["ref_words"], 1)


def pick_examples(utterances: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[tuple[str, dict[str, Any]]]]:
    """For each (system, set, condition): [("worst", u), ("median", u), ("best", u)] by
    utterance WER (ties broken by id), without repeating an utterance."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for u in utterances:
        groups.setdefault((u["system"], u["set"], u["condition"]), []).append(u)
    out = {}
    for k, us in groups.items():
        us = sorted(us, key=lambda u: (-utterance_wer(u), u["id"]))
        picks, seen = [], set()
        for label, i in (("worst", 0), ("median", len(us) // 2), ("best", len(us) - 1)):
            if us[i]["id"] not in seen:
                picks.append((label, us[i]))
                seen.add(us[i]["id"])
        out[k] = picks
    return out


def markdown_table_html(md: str) -> str:
    """A Markdown pipe table (as the other outputs write them) as an HTML table."""
    lines = [ln for ln in md.strip().splitlines() if ln.startswith("|")]
    if not lines:
        return f"<p>{html.escape(md)}</p>" if md.strip() else ""
    rows = [
        [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", ln.strip())[1:-1]]
        for ln in lines
        if not re.fullmatch(r"\|[\s:|-]+\|", ln.strip())
    ]

    def cell(c: str, tag: str) -> str:
        text = _BOLD.sub(r"<b>\1</b>", html.escape(c))
        return f"<{tag}>{text}</{tag}>"

    body = "".join("<tr>" + "".join(cell(c, "td") for c in r) + "</tr>" for r in rows[1:])
    return "<table><tr>" + "".join(cell(c, "th") for c in rows[0]) + "</tr>" + body + "</table>"


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def write_report(
    path: str | os.PathLike,
    title: str,
    info: dict[str, Any],
    utterances: Sequence[dict[str, Any]],
    records: dict[str, dict[str, Any]],
    tables: Sequence[tuple[str, str]],
    plots: Sequence[str | os.PathLike],
) -> Path:
    """Write the page. ``tables``: (heading, Markdown table); ``plots``: PNG files to embed;
    ``records``: manifest records by id (their ``roi`` crops give the strips; none without)."""
    from avsr.core.files import atomic_path
    from avsr.core.video import centre_mouth, read_crops

    examples = pick_examples(utterances)
    strips: dict[str, tuple[str, int, int]] = {}  # id -> (data URI, width, height)
    for picks in examples.values():
        for _, u in picks:
            roi = records.get(u["id"], {}).get("roi")
            if u["id"] not in strips and roi:
                img = crop_strip(centre_mouth(read_crops(roi)))
                strips[u["id"]] = (_png_uri(png_bytes(img)), img.shape[1], img.shape[0])
    css_id = {uid: f"u{i}" for i, uid in enumerate(strips)}
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}",
        *(f".{css_id[k]}{{background-image:url({v[0]})}}" for k, v in strips.items()),
        "</style></head><body>",
        f"<h1>{html.escape(title)}</h1><table>"
        + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in info.items())
        + "</table>",
    ]
    for heading, md in tables:
        if md.strip():
            parts.append(f"<h2>{html.escape(heading)}</h2>" + markdown_table_html(md))
    for p in plots:
        parts.append(f'<img class="plot" alt="{html.escape(Path(p).name)}" src="{_png_uri(Path(p).read_bytes())}">')
    legend = "".join(f'<span style="background:{c}">{op}</span>' for op, c in COLOURS.items())
    parts.append(
        f"<h2>Examples</h2><p class='legend'>Worst, median and best utterance (by utterance WER) "
        f"per set and condition; "
        f"reference above hypothesis, both normalized. {legend}</p>"
    )
    for (system, name, cond), picks in examples.items():
        parts.append(
            f"<details{' open' if cond == CLEAN else ''}><summary>{html.escape(system)} [{html.escape(name)}], "
            f"{html.escape(cond)}</summary>"
        )
        for label, u in picks:
            strip = ""
            if u["id"] in css_id:
                _, w, h = strips[u["id"]]
                strip = (
                    f'<div class="strip {css_id[u["id"]]}" style="width:{w}px;height:{h}px" '
                    'role="img" aria-label="mouth crops"></div>'
                )
            meta = (
                f"{label}: <b>{html.escape(u['id'])}</b>, WER {100 * utterance_wer(u):.1f}% "
                f"({u['edits']} edits, {u['ref_words']} reference words)"
            )
            parts.append(
                f"<div class='utt'><div class='meta'>{meta}</div>{strip}{alignment_html(u['ref'], u['hyp'])}</div>"
            )
        parts.append("</details>")
    parts.append("</body></html>")
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(parts), encoding="utf-8")
    return path
