"""Self-distillation targets for speech without transcripts.

Clips are packed in order into windows of at most ``window_seconds`` (a short silence between
clips, as Whisper hears several sentences in one 30 s window), each window is written as a
16 kHz WAV and transcribed once by the frozen Whisper on its clean audio; that transcript is
the window's ``target``. An adapter set trained on a noisy copy of the window against it learns
to hear through the noise what the frozen model hears without it: no transcript is needed and
the model's own style (casing, punctuation, numbers) is kept.

Evaluation references (:func:`transcribe_clips`): held-out speakers' clips (split ``val`` /
``test``) are transcribed one clip at a time instead, greedy, into per-utterance manifests
(``OUT/PREFIX_SPLIT.jsonl``) whose ``reference`` field says the text is a distilled one, not an
exact transcript. A clip is rejected (``OUT/PREFIX_rejected.jsonl``, with its ``reason``) when
its transcript loops (:func:`looped`), is improbable (average log-probability below -1.0,
Whisper's threshold) or is no speech (Whisper's no-speech test, or no text).

Resumable: windows already in ``OUT/distilled.jsonl`` (clips already in a manifest of
:func:`transcribe_clips` or its rejects) are skipped on a rerun.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avsr.core.audio import read_audio, write_wav
from avsr.core.errors import InputError
from avsr.core.jsonl import JsonlAppender, read_jsonl
from avsr.core.media import SAMPLE_RATE
from avsr.whisper.decoding import DecodingOptions, Hypothesis, compression_ratio

MAX_COMPRESSION = DecodingOptions.compression_ratio_threshold  # Whisper's loop test: zlib ratio 2.4
MIN_LOGPROB = DecodingOptions.logprob_threshold  # Whisper's improbable-text test: average log-prob -1.0
GREEDY = DecodingOptions(temperatures=(0.0,))  # references: the greedy text, no sampled fallback


def looped(text: str) -> bool:
    """Whether a transcript repeats itself like a decoding loop ("oh, oh, oh, ..."): its zlib
    compression ratio is above Whisper's threshold of 2.4. Such a target would teach the loop."""
    return compression_ratio(text) > MAX_COMPRESSION


def pack_windows(
    records: Sequence[dict[str, Any]], window_seconds: float = 28.0, gap: float = 0.3
) -> Iterator[list[dict[str, Any]]]:
    """Consecutive records grouped so that their audio plus ``gap`` after each fits a window
    (a record longer than the window is left out)."""
    cur: list[dict[str, Any]] = []
    used = 0.0
    for r in records:
        s = float(r.get("seconds") or 0.0)
        if s <= 0 or s > window_seconds:
            continue
        if cur and used + s > window_seconds:
            yield cur
            cur, used = [], 0.0
        cur.append(r)
        used += s + gap
    if cur:
        yield cur


def distill(
    records: Sequence[dict[str, Any]],
    out: str | os.PathLike,
    whisper: str = "whisper-base",
    window_seconds: float = 28.0,
    gap: float = 0.3,
    max_windows: int | None = None,
    batch_size: int = 4,
    model=None,
    engine: str = "torch",
) -> Path:
    """Write OUT/audio/distilled/*.wav and OUT/distilled.jsonl (``{"id", "audio", "text",
    "target", "seconds", "parts", "speakers", "split": "train", "source": "self-distillation"}``)
    and return the manifest; a window whose transcript loops (:func:`looped`) goes to
    OUT/distilled_rejected.jsonl instead. ``model``: an :class:`~avsr.adapters.torch_bank.AVWhisper`
    (default: :func:`load_teacher`)."""
    from tqdm import tqdm

    out = Path(out)
    manifest = out / "distilled.jsonl"
    rejected = out / "distilled_rejected.jsonl"
    done = {r["id"]: r.get("parts") for m in (manifest, rejected) if m.is_file() for r in read_jsonl(m)}
    windows = list(pack_windows(records, window_seconds, gap))[:max_windows]
    for i, w in enumerate(windows):  # a resume must pack the same clips into the same windows
        parts = done.get(f"distilled/{i:05d}")
        if parts is not None and parts != [r["id"] for r in w]:
            raise InputError(
                f"{manifest}: window distilled/{i:05d} holds other clips than these records pack into it "
                f"(an earlier run on other clips); remove {manifest.name}, {rejected.name} and audio/distilled/"
            )
    todo = [(f"distilled/{i:05d}", w) for i, w in enumerate(windows) if f"distilled/{i:05d}" not in done]
    if not todo:
        return manifest
    if model is None:
        model = load_teacher(whisper, engine)
    model.eval()
    silence = np.zeros(int(gap * SAMPLE_RATE), np.float32)
    (out / "audio" / "distilled").mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(todo), desc="self-distillation", unit="window")
    sink = JsonlAppender(manifest)
    rejects = JsonlAppender(out / "distilled_rejected.jsonl")  # looping transcripts: not used
    for b in range(0, len(todo), batch_size):
        chunk = todo[b : b + batch_size]
        audios = []
        for _, w in chunk:
            pieces = []
            for r in w:
                pieces += [read_audio(r["audio"]), silence]
            audios.append(np.concatenate(pieces)[: int(window_seconds * SAMPLE_RATE)])
        n = max(len(a) for a in audios)
        batch = np.stack([np.pad(a, (0, n - len(a))) for a in audios])
        texts = model.generate(model.features(batch))
        for (wid, w), a, text in zip(chunk, audios, texts):
            wav = out / "audio" / f"{wid}.wav"
            write_wav(wav, a)
            rec = {
                "id": wid,
                "audio": os.path.relpath(wav, out),
                "text": text,
                "target": text,
                "seconds": round(len(a) / SAMPLE_RATE, 3),
                "parts": [r["id"] for r in w],
                "speakers": sorted({str(r.get("speaker", "")) for r in w}),
                "split": "train",
                "source": f"self-distillation ({whisper}, clean audio, greedy)",
            }
            (rejects if looped(text) else sink).write(rec)
        bar.update(len(chunk))
    bar.close()
    sink.close()
    rejects.close()
    return manifest


def load_teacher(whisper: str = "whisper-base", engine: str = "torch"):
    """The frozen teacher as an :class:`~avsr.adapters.torch_bank.AVWhisper` in eval mode, decoding
    on PyTorch (``engine="torch"``) or CTranslate2 float32 (``"ct2"``: several times faster on CPU)."""
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.whisper.load import load_whisper

    m, proc = load_whisper(whisper)
    model = AVWhisper(m, proc, whisper)
    model.eval()
    if engine == "ct2":
        model.use_ct2("float32")
    return model


def reject_reason(h: Hypothesis) -> str | None:
    """Why a clip's greedy transcript is no usable reference: ``"no-speech"`` (skipped by Whisper's
    no-speech or silence test, or empty), ``"loop"`` (:func:`looped`), ``"improbable"`` (average
    log-probability below -1.0); None when it is usable."""
    if h.skipped or not h.text.strip():
        return "no-speech"
    if looped(h.text):
        return "loop"
    if MIN_LOGPROB is not None and h.avg_logprob < MIN_LOGPROB:
        return "improbable"
    return None


def transcribe_clips(
    records: Sequence[dict[str, Any]],
    out: str | os.PathLike,
    prefix: str = "speech_queen",
    whisper: str = "whisper-base",
    batch_size: int = 8,
    model=None,
    engine: str = "torch",
) -> dict[str, int]:
    """Each record (``id``, ``audio`` resolved, ``seconds``, ``split``, ``speaker``...) transcribed
    alone by the frozen Whisper (greedy, on clean audio) and appended to ``OUT/PREFIX_SPLIT.jsonl``
    as ``{"id", "audio", "text", "speaker", "seconds", "split", "reference": "distilled WHISPER",
    ...the record's other fields, "avg_logprob", "no_speech_prob", "compression_ratio"}`` (``audio``
    relative to OUT), or to ``OUT/PREFIX_rejected.jsonl`` with ``"reason"``
    (:func:`reject_reason`). Returns counts ``{"SPLIT": kept, "rejected": n, "skipped": done
    earlier}``."""
    from tqdm import tqdm

    out = Path(out)
    rejected = out / f"{prefix}_rejected.jsonl"
    done = {r["id"] for m in [rejected, *out.glob(f"{prefix}_*.jsonl")] if m.is_file() for r in read_jsonl(m)}
    todo = [r for r in records if r["id"] not in done]
    counts = {"skipped": len(records) - len(todo), "rejected": 0}
    if not todo:
        return counts
    if model is None:
        model = load_teacher(whisper, engine)
    sinks: dict[str, JsonlAppender] = {}
    rejects = JsonlAppender(rejected)
    bar = tqdm(total=len(todo), desc="references", unit="clip")
    try:
        for b in range(0, len(todo), batch_size):
            chunk = todo[b : b + batch_size]
            audios = [read_audio(r["audio"]) for r in chunk]
            n = max(len(a) for a in audios)
            mel = model.features(np.stack([np.pad(a, (0, n - len(a))) for a in audios]))
            for r, h in zip(chunk, model.decode(mel, audio=audios, opts=GREEDY)):
                text = h.text.strip()
                rec = {"id": r["id"], "audio": os.path.relpath(r["audio"], out), "text": text,
                       "speaker": r.get("speaker", ""), "seconds": r.get("seconds"), "split": r.get("split", "test"),
                       "reference": f"distilled {whisper}"}  # fmt: skip
                rec.update({k: v for k, v in r.items() if k not in rec})
                rec.update({"avg_logprob": round(h.avg_logprob, 4), "no_speech_prob": round(h.no_speech_prob, 4),
                            "compression_ratio": round(compression_ratio(text), 3)})  # fmt: skip
                reason = reject_reason(h)
                if reason:
                    rejects.write({**rec, "reason": reason})
                    counts["rejected"] += 1
                    continue
                split = rec["split"]
                if split not in sinks:
                    sinks[split] = JsonlAppender(out / f"{prefix}_{split}.jsonl")
                sinks[split].write(rec)
                counts[split] = counts.get(split, 0) + 1
            bar.update(len(chunk))
    finally:
        bar.close()
        rejects.close()
        for s in sinks.values():
            s.close()
    return counts
