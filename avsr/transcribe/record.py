"""One result record per input (one JSONL line of ``avsr transcribe -o``), and captions.

A record: ``id``, ``source``, ``mode`` (avsr | asr | vsr), ``text``, ``model`` (what produced
it), ``duration`` (seconds), ``segments`` (start, end, text, and for avsr/asr the noise class,
SNR estimate and adapter set of each), the input-level ``noise`` / ``adapter`` / ``route`` /
``visual`` (avsr/asr), ``phonemes`` (vsr), ``face_ratio``, ``note``, ``montage`` (crop montage,
when asked for) and ``timings`` (seconds: prepare = decoding + crops, noise, decode, ...).
A failed input: ``id``, ``source``, ``error``.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from avsr.io import atomic_path

ROUND = 3


def _r(x: float) -> float:
    return round(float(x), ROUND)


def error_record(cid: str, source: str, error: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": cid, "source": source, "error": error, **(extra or {})}


def assemble(segments: list, results: list[dict[str, Any]], model: dict[str, str]) -> dict[str, Any]:
    """The record of one input from its prepared segments (in order, none failed) and their
    decode results. The input's extra fields are added by the caller that knows them."""
    first = segments[0]
    segs = []
    timings: Counter = Counter()
    for s, r in zip(segments, results):
        timings["prepare"] += s.prep_seconds
        for k, v in r.get("timings", {}).items():
            timings[k] += v
        seg = {"start": s.start, "end": s.end, "text": r.get("text")}
        if "noise" in r:
            n = r["noise"]
            seg.update(noise=n["category"] if n else None, snr=_r(n["snr"]) if n else None, adapter=r["adapter"])
        if "phonemes" in r:
            seg["phonemes"] = r["phonemes"]
        segs.append(seg)
    texts = [r["text"] for r in results]
    rec: dict[str, Any] = {"id": first.id, "source": first.source, "mode": first.mode,
                           "text": None if any(t is None for t in texts) else " ".join(t for t in texts if t),
                           "model": dict(model), "duration": segments[-1].end}
    if "adapter" in results[0]:
        rec.update(_av_summary(segments, results))
    if "phonemes" in results[0]:
        rec["phonemes"] = " | ".join(r["phonemes"] for r in results if r["phonemes"])
    frames = [(s.face_ratio, s.end - s.start) for s in segments if s.face_ratio is not None]
    rec["face_ratio"] = _r(sum(f * d for f, d in frames) / max(1e-9, sum(d for _, d in frames))) if frames else None
    notes = list(dict.fromkeys(s.note for s in segments if s.note))
    rec["note"] = "; ".join(notes)
    if first.montage:
        rec["montage"] = first.montage
    rec["segments"] = segs
    rec["timings"] = {k: _r(v) for k, v in timings.items()}
    return rec


def _av_summary(segments: list, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Input-level noise / adapter: the segments' (duration-weighted) majority."""
    dur = [s.end - s.start for s in segments]
    by_adapter: Counter = Counter()
    by_noise: Counter = Counter()
    for d, r in zip(dur, results):
        by_adapter[r["adapter"]] += d
        if r["noise"]:
            by_noise[r["noise"]["category"]] += d
    adapter = by_adapter.most_common(1)[0][0]
    route = next(r["route"] for r in results if r["adapter"] == adapter)
    noise = None
    if by_noise:
        cat = by_noise.most_common(1)[0][0]
        snrs = [(d, r["noise"]["snr"]) for d, r in zip(dur, results) if r["noise"] and r["noise"]["category"] == cat]
        noise = {"category": cat, "snr": _r(sum(d * v for d, v in snrs) / max(1e-9, sum(d for d, _ in snrs)))}
        if len(results) == 1:
            noise["probs"] = {k: _r(v) for k, v in results[0]["noise"].get("probs", {}).items()}
    return {"noise": noise, "adapter": adapter, "route": route, "visual": any(r.get("visual") for r in results)}


def _stamp(t: float, sep: str) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def captions(record: dict[str, Any], fmt: str) -> str:
    """SubRip (``srt``) or WebVTT (``vtt``) text: one cue per segment with text."""
    cues = [s for s in record.get("segments", []) if s.get("text")]
    if fmt == "srt":
        return "".join(f"{i}\n{_stamp(s['start'], ',')} --> {_stamp(s['end'], ',')}\n{s['text']}\n\n" for i, s in enumerate(cues, 1))
    if fmt == "vtt":
        return "WEBVTT\n\n" + "".join(f"{_stamp(s['start'], '.')} --> {_stamp(s['end'], '.')}\n{s['text']}\n\n" for s in cues)
    raise ValueError(f"caption format must be srt or vtt, got {fmt!r}")


def write_captions(record: dict[str, Any], folder: str | os.PathLike, fmt: str) -> Path:
    """``FOLDER/<id>.<fmt>`` (ids like ``speaker/utt`` make subfolders), written atomically."""
    path = Path(folder) / f"{record['id']}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(captions(record, fmt), encoding="utf-8")
    return path
