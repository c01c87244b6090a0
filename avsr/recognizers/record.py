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
from itertools import accumulate
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
        if "by" in r:  # which model read it (Auto-AVSR audio-visual runs: avsr | asr | whisper)
            seg["by"] = r["by"]
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


CUE_CHARS = 42  # characters per caption line (the usual broadcast limit)
CUE_LINES = 2  # lines per cue
CUE_SECONDS = 7.0  # longest cue
CUE_MIN_SECONDS = 1.0  # a shorter cue stays up this long (until the next cue starts)
CUE_PAUSE = 0.5  # seconds of silence between words that end a cue
_SENTENCE_END = (".", "?", "!", "。", "？", "！")
_CLAUSE_END = (",", ";", ":", "，", "、")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr.", "vs.", "e.g.", "i.e.", "no."}


def _lines(text: str) -> list[str]:
    """``text`` on one line, or on two cut at the space that makes the longer line shortest
    (a cut after a comma or a sentence end preferred: it counts 4 characters shorter)."""
    if len(text) <= CUE_CHARS:
        return [text]
    words = text.split(" ")
    if len(words) == 1:
        return [text]
    best = min(
        range(1, len(words)),
        key=lambda i: (
            max(len(" ".join(words[:i])), len(" ".join(words[i:])))
            - 4 * words[i - 1].endswith(_SENTENCE_END + _CLAUSE_END)
        ),
    )
    return [" ".join(words[:best]), " ".join(words[best:])]


def _fits(words: list[dict[str, Any]]) -> bool:
    """Whether ``words`` make one cue: CUE_LINES lines of CUE_CHARS and CUE_SECONDS at most (one
    word always does)."""
    lines = _lines("".join(w["word"] for w in words).strip())
    return len(words) == 1 or (
        len(lines) <= CUE_LINES
        and all(len(x) <= CUE_CHARS for x in lines)
        and words[-1]["end"] - words[0]["start"] <= CUE_SECONDS
    )


def _balanced(words: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Words too many for one cue -> the fewest cues that fit, as even in length as possible."""
    n, room = len(words), CUE_LINES * CUE_CHARS
    chars = list(accumulate((len(w["word"]) for w in words), initial=0))
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * n  # (cost of words[:i], start of its last cue)
    for i in range(1, n + 1):
        for j in range(i - 1, -1, -1):
            if not _fits(words[j:i]):
                break
            cost = best[j][0] + 1000 + 100 * ((room - (chars[i] - chars[j])) / room) ** 2
            if cost < best[i][0]:
                best[i] = (cost, j)
    cues, i = [], n
    while i > 0:
        cues.append(words[best[i][1] : i])
        i = best[i][1]
    return cues[::-1]


def _split(words: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """A phrase (no sentence end or long pause inside) -> cues that fit: its clauses (cut after a
    comma, a semicolon, a colon or a pause of 0.2 s), joined while they fit in one cue; a clause
    too long for one is cut into the fewest even cues (:func:`_balanced`)."""
    clauses: list[list[dict[str, Any]]] = [[]]
    for k, w in enumerate(words):
        clauses[-1].append(w)
        nxt = words[k + 1] if k + 1 < len(words) else None
        if nxt and (w["word"].rstrip().endswith(_CLAUSE_END) or nxt["start"] - w["end"] >= 0.2):
            clauses.append([])
    cues: list[list[dict[str, Any]]] = []
    for c in clauses:
        if cues and _fits(cues[-1] + c):
            cues[-1] = cues[-1] + c
        else:
            cues += [c] if _fits(c) else _balanced(c)
    return cues


def _sentence_end(word: str) -> bool:
    """Whether ``word`` ends a sentence (not "Mr.", "e.g." or an initial such as "J.")."""
    w = word.strip()
    initial = len(w) == 2 and w[0].isupper() and w != "I."
    return w.endswith(_SENTENCE_END) and w.lower() not in _ABBREVIATIONS and not initial


def _cue_words(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The words to caption: each segment's word timestamps, or, for a segment without them
    (``--no-word-timestamps``, lip reading), its text's words spread over the segment by length."""
    out: list[dict[str, Any]] = []
    for s in segments:
        if s.get("words"):
            out += [w for w in s["words"] if w["word"].strip()]
            continue
        tokens = (s.get("text") or "").split()
        total = sum(len(t) + 1 for t in tokens)
        at, span = 0, s["end"] - s["start"]
        for t in tokens:
            a, at = at, at + len(t) + 1
            out.append({"word": " " + t, "start": s["start"] + span * a / total, "end": s["start"] + span * at / total})
    return out


def caption_cues(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Readable cues ({start, end, lines}) from the segments' words: phrases end at sentence ends
    and at pauses over CUE_PAUSE; a phrase too long for one cue (CUE_LINES lines of CUE_CHARS,
    CUE_SECONDS) is cut between words into the fewest cues, even in length, preferably after a
    comma or a short pause. A cue starts with its first word and ends with its last (shown at
    least CUE_MIN_SECONDS, never into the next cue)."""
    phrases: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    for w in _cue_words(segments):
        if cur and w["start"] - cur[-1]["end"] > CUE_PAUSE:
            phrases.append(cur)
            cur = []
        cur.append(w)
        if _sentence_end(w["word"]):
            phrases.append(cur)
            cur = []
    if cur:
        phrases.append(cur)
    cues = [
        {"start": g[0]["start"], "end": g[-1]["end"], "lines": _lines("".join(w["word"] for w in g).strip())}
        for p in phrases
        for g in _split(p)
    ]
    for c, nxt in zip(cues, cues[1:] + [None]):
        shown = c["start"] + CUE_MIN_SECONDS
        c["end"] = max(c["end"], shown if nxt is None else min(shown, nxt["start"]))
    return cues


def captions(record: Result | dict[str, Any], fmt: str) -> str:
    """SubRip (``srt``) or WebVTT (``vtt``) text of the record's :func:`caption_cues`."""
    cues = caption_cues(record.get("segments", []))
    if fmt not in ("srt", "vtt"):
        raise ValueError(f"caption format must be srt or vtt, got {fmt!r}")
    sep = "," if fmt == "srt" else "."
    body = [f"{_stamp(c['start'], sep)} --> {_stamp(c['end'], sep)}\n" + "\n".join(c["lines"]) + "\n\n" for c in cues]
    if fmt == "srt":
        return "".join(f"{i}\n{b}" for i, b in enumerate(body, 1))
    return "WEBVTT\n\n" + "".join(body)


def write_captions(record: Result | dict[str, Any], folder: str | os.PathLike, fmt: str) -> Path:
    """``FOLDER/<id>.<fmt>`` (ids like ``speaker/utt`` make subfolders), written atomically."""
    path = Path(folder) / f"{record['id']}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(captions(record, fmt), encoding="utf-8")
    return path
