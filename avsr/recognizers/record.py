"""The result record of one input, defined once (:class:`Result`): what ``transcribe(path)``
returns, one JSONL line of ``avsr transcribe -o`` (:meth:`Result.to_dict`), and captions.

Fields: ``id``, ``source``, ``mode`` (avsr | asr | vsr), ``text``, ``model`` (what produced it:
shipped models by registry name, non-default decoding options), ``duration`` (seconds), for
avsr/asr the input-level ``noise`` (class, SNR, class probabilities weighted over the segments) /
``adapter`` / ``route`` / ``visual``, for vsr ``phonemes``, then ``face_ratio``, ``note``,
``montage`` (crop montage, when asked for), ``segments`` and ``timings`` (seconds: prepare =
decoding + crops, noise; decode, vsr, p2t = this input's share of its batches: segments decoded
together split a batch's time equally, since Whisper pads each to the same 30 s window).
A segment has start, end, text, and for avsr/asr the noise class, SNR estimate and
adapter set, and Whisper's avg_logprob, no_speech_prob, temperature, compression_ratio and
``skipped`` (why no text: silence, no-speech), and with word timestamps ``words`` (word,
start, end, probability). A failed input is an error line instead
(:func:`avsr.core.jobs.error_record`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsr.core.files import atomic_path

ROUND = 3


def _r(x: float) -> float:
    return round(float(x), ROUND)


AV_FIELDS = ("noise", "adapter", "route", "visual")


def join_texts(texts: list[str | None]) -> str | None:
    """An input's text from its segments' texts (None when any is None: phonemes only)."""
    return None if any(t is None for t in texts) else " ".join(t for t in texts if t)


@dataclass
class Result:
    """The record of one transcribed input. ``result["text"]`` works too (dict-style, as whisper's)."""

    id: str
    source: str
    mode: str
    text: str | None  # None when only phonemes were asked for
    model: dict[str, str]
    duration: float
    noise: dict[str, Any] | None = None  # avsr/asr: {category, snr[, probs]}, None without a classifier
    adapter: str | None = None  # avsr/asr: the adapter set used (most of the time)
    route: str | None = None  # avsr/asr: why that set
    visual: bool | None = None  # avsr/asr: whether crops entered the model
    phonemes: str | None = None  # vsr: the decoded phonemes, " | " between segments
    face_ratio: float | None = None
    note: str = ""
    montage: str | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL line (fields that do not apply to the mode are left out)."""
        out: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "mode": self.mode,
            "text": self.text,
            "model": dict(self.model),
            "duration": self.duration,
        }
        if self.mode != "vsr":
            out.update({k: getattr(self, k) for k in AV_FIELDS})
        else:
            out["phonemes"] = self.phonemes
        out.update(face_ratio=self.face_ratio, note=self.note)
        if self.montage:
            out["montage"] = self.montage
        out.update(segments=self.segments, timings=self.timings)
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_dict().get(key, default)


def assemble(segments: list, results: list[dict[str, Any]], model: dict[str, str]) -> Result:
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
        seg.update(r.get("decoding", {}))  # avg_logprob, no_speech_prob, temperature, ... (Whisper)
        if "words" in r:
            seg["words"] = r["words"]
        segs.append(seg)
    texts = [r["text"] for r in results]
    frames = [(s.face_ratio, s.end - s.start) for s in segments if s.face_ratio is not None]
    by_mode: dict[str, Any] = _av_summary(segments, results) if "adapter" in results[0] else {}
    if "phonemes" in results[0]:
        by_mode["phonemes"] = " | ".join(r["phonemes"] for r in results if r["phonemes"])
    return Result(
        id=first.id,
        source=first.source,
        mode=first.mode,
        text=join_texts(texts),
        model=dict(model),
        duration=segments[-1].end,
        face_ratio=_r(sum(f * d for f, d in frames) / max(1e-9, sum(d for _, d in frames))) if frames else None,
        note="; ".join(dict.fromkeys(s.note for s in segments if s.note)),
        montage=first.montage or None,
        segments=segs,
        timings={k: _r(v) for k, v in timings.items()},
        **by_mode,
    )


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
        probs: Counter = Counter()  # each class's probability, duration-weighted over the segments
        weight = sum(d for d, r in zip(dur, results) if r["noise"] and r["noise"].get("probs"))
        for d, r in zip(dur, results):
            for k, v in ((r["noise"] or {}).get("probs") or {}).items():
                probs[k] += v if len(results) == 1 else d * v / max(1e-9, weight)
        if probs:
            noise["probs"] = {k: _r(v) for k, v in probs.items()}
    return {"noise": noise, "adapter": adapter, "route": route, "visual": any(r.get("visual") for r in results)}


def _stamp(t: float, sep: str) -> str:
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


CUE_CHARS = 42  # a subtitle line's usual limit
CUE_PAUSE = 1.0  # seconds of silence between words that end a cue


def _word_cues(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cues of at most CUE_CHARS characters from word timestamps, cut at sentence ends and pauses."""
    cues: list[dict[str, Any]] = []
    cur: list[dict[str, Any]] = []

    def flush() -> None:
        if cur:
            cues.append(
                {"start": cur[0]["start"], "end": cur[-1]["end"], "text": "".join(w["word"] for w in cur).strip()}
            )
            cur.clear()

    for w in (w for s in segments for w in s.get("words") or []):
        text = "".join(x["word"] for x in cur) + w["word"]
        if cur and (len(text.strip()) > CUE_CHARS or w["start"] - cur[-1]["end"] > CUE_PAUSE):
            flush()
        cur.append(w)
        if w["word"].rstrip().endswith((".", "?", "!")):
            flush()
    flush()
    return cues


def captions(record: Result | dict[str, Any], fmt: str) -> str:
    """SubRip (``srt``) or WebVTT (``vtt``) text: one cue per segment with text, or, when the
    segments have word timestamps, cues of at most CUE_CHARS characters timed by their words."""
    segs = record.get("segments", [])
    cues = _word_cues(segs) if any(s.get("words") for s in segs) else [s for s in segs if s.get("text")]
    if fmt == "srt":
        return "".join(
            f"{i}\n{_stamp(s['start'], ',')} --> {_stamp(s['end'], ',')}\n{s['text']}\n\n"
            for i, s in enumerate(cues, 1)
        )
    if fmt == "vtt":
        return "WEBVTT\n\n" + "".join(
            f"{_stamp(s['start'], '.')} --> {_stamp(s['end'], '.')}\n{s['text']}\n\n" for s in cues
        )
    raise ValueError(f"caption format must be srt or vtt, got {fmt!r}")


def write_captions(record: Result | dict[str, Any], folder: str | os.PathLike, fmt: str) -> Path:
    """``FOLDER/<id>.<fmt>`` (ids like ``speaker/utt`` make subfolders), written atomically."""
    path = Path(folder) / f"{record['id']}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(captions(record, fmt), encoding="utf-8")
    return path
