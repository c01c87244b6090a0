"""Self-distillation targets for speech without transcripts.

Clips are packed in order into windows of at most ``window_seconds`` (a short silence between
clips, as Whisper hears several sentences in one 30 s window), each window is written as a
16 kHz WAV and transcribed once by the frozen Whisper on its clean audio; that transcript is
the window's ``target``. An adapter set trained on a noisy copy of the window against it learns
to hear through the noise what the frozen model hears without it: no transcript is needed and
the model's own style (casing, punctuation, numbers) is kept.

Resumable: windows already in ``OUT/distilled.jsonl`` are skipped on a rerun.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avsr.core.audio import read_audio, write_wav
from avsr.core.jsonl import JsonlAppender, read_jsonl
from avsr.core.media import SAMPLE_RATE
from avsr.whisper.decoding import DecodingOptions, compression_ratio

MAX_COMPRESSION = DecodingOptions.compression_ratio_threshold  # Whisper's loop test: zlib ratio 2.4


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
) -> Path:
    """Write OUT/audio/distilled/*.wav and OUT/distilled.jsonl (``{"id", "audio", "text",
    "target", "seconds", "parts", "speakers", "split": "train", "source": "self-distillation"}``)
    and return the manifest; a window whose transcript loops (:func:`looped`) goes to
    OUT/distilled_rejected.jsonl instead. ``model``: an :class:`~avsr.adapters.torch_bank.AVWhisper`
    (default: loaded)."""
    from tqdm import tqdm

    out = Path(out)
    manifest = out / "distilled.jsonl"
    rejected = out / "distilled_rejected.jsonl"
    done = {r["id"] for m in (manifest, rejected) if m.is_file() for r in read_jsonl(m)}
    windows = list(pack_windows(records, window_seconds, gap))[:max_windows]
    todo = [(f"distilled/{i:05d}", w) for i, w in enumerate(windows) if f"distilled/{i:05d}" not in done]
    if not todo:
        return manifest
    if model is None:
        from avsr.adapters.torch_bank import AVWhisper
        from avsr.whisper.load import load_whisper

        m, proc = load_whisper(whisper)
        model = AVWhisper(m, proc, whisper)
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
