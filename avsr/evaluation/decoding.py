"""Running the systems over a test manifest: Whisper (audio only, or audio + mouth crops through
an adapter set's fusion) under every condition, and the lip reader (phonemes, then text).

Whisper runs in batches (:meth:`AVWhisper.features` + :meth:`AVWhisper.generate`); a batch is
padded to Whisper's 30 s window anyway, so batching gives the same text as one clip at a time
(tested). Each clip's audio and crops are read once and reused for every condition and set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avsr.av.decoding import DecodingOptions
from avsr.av.features import WHISPER_SAMPLES
from avsr.av.router import NO_ADAPTER
from avsr.core import manifest
from avsr.core.audio import read_audio
from avsr.core.errors import InputError
from avsr.core.metrics import edits
from avsr.core.padding import pad
from avsr.core.video import centre_mouth, read_crops
from avsr.evaluation.conditions import CLEAN, Condition, condition_audio
from avsr.evaluation.scoring import score


class EvalInputError(InputError):
    """A manifest or model input the evaluation cannot use; the message says what is wrong."""


def read_manifest(
    path: str | os.PathLike, need: Sequence[str] = ("text",), limit: int | None = None
) -> list[dict[str, Any]]:
    """Records of a test manifest (JSONL: ``id``, ``text`` and ``need``-ed fields such as ``audio`` or
    ``roi``), paths resolved by the manifest path rule (:mod:`avsr.core.manifest`), first ``limit``
    lines. EvalInputError on a missing file or field."""
    path = Path(path)
    if not path.is_file():
        raise EvalInputError(
            f"{path}: no such manifest (data_prep/lrs3.py or data_prep/lrs2.py writes OUT/test/manifest.jsonl)"
        )
    try:
        return manifest.read_manifest(path, ("id", *need), limit)
    except InputError as e:
        raise EvalInputError(f"{e}; a test manifest needs id, text, and audio (asr) / roi crops (avsr, vsr)") from e


def _crops(r: dict[str, Any]) -> np.ndarray | None:
    roi = r.get("roi") or r.get("crops")
    return centre_mouth(read_crops(roi)) if roi else None


def utterance(r: dict[str, Any], system: str, set_name: str, cond: Condition, hyp: str) -> dict[str, Any]:
    """The per-utterance line of ``utterances.jsonl``: who, under what, and the scored text."""
    return {
        "id": r["id"],
        "system": system,
        "set": set_name,
        "condition": cond.name,
        "category": cond.category,
        "snr": cond.snr,
        **score(r["text"], hyp),
    }


def whisper_texts(
    av,
    audio: Sequence[np.ndarray],
    crops: Sequence[np.ndarray | None] | None = None,
    decoding: DecodingOptions | None = None,
) -> list[str]:
    """Texts of clips under the active set, in one batch; the crops enter through the set's fusion
    (ignored by sets without one). Clips longer than one 30 s window go through
    :meth:`AVWhisper.transcribe` (cut in their pauses, as ``avsr transcribe`` cuts) one at a time."""
    crops = list(crops) if crops is not None else [None] * len(audio)
    out: list[str | None] = [None] * len(audio)
    short = [i for i, a in enumerate(audio) if len(a) <= WHISPER_SAMPLES]
    for i in set(range(len(audio))) - set(short):
        out[i] = av.transcribe(audio[i], crops[i], opts=decoding)
    if short:
        x, _ = pad([np.asarray(audio[i], np.float32) for i in short])
        c, frames = pad([crops[i] for i in short], torch.uint8)
        texts = av.generate(
            av.features(x), c, frames if c is not None else None, audio=[audio[i] for i in short], opts=decoding
        )
        for i, t in zip(short, texts):
            out[i] = t
    return [t or "" for t in out]


ROUTED = "routed"  # the set the noise classifier and router choose, mixture by mixture


def run_whisper(
    av,
    records: Sequence[dict[str, Any]],
    conds: Sequence[Condition],
    sets: Sequence[str] = (NO_ADAPTER,),
    bank=None,
    visual: bool = False,
    system: str = "asr",
    batch_size: int = 8,
    decoding: DecodingOptions | None = None,
    progress: bool = False,
    choose: Callable[[np.ndarray], tuple[str, dict[str, Any] | None]] | None = None,
    plan: Callable[[Condition], Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """Scored utterance lines for every record x set x condition (noise added to the audio only;
    with ``visual`` the mouth crops go to each set's fusion). Ordered by set, condition, id.

    ``plan(cond)``: the sets to run under ``cond`` (default: all of ``sets``). The set name
    ``routed`` (with ``choose``: mixture -> (set name, noise estimate or None), the noise
    classifier + router) decodes each mixture with the set chosen for it; a choice already decoded
    for that mixture is reused (same model, same input: the same text), and the line records the
    choice (``routed_to``) and the estimate (``noise_category``, ``noise_snr``)."""
    from tqdm import tqdm

    if ROUTED in sets and choose is None:
        raise ValueError("the 'routed' system needs choose (the noise classifier and router)")
    runs = {c.name: [n for n in (plan(c) if plan else sets) if n in sets] for c in conds}
    lines: dict[tuple[str, str], list[dict[str, Any]]] = {}
    total = len(records) * sum(len(v) for v in runs.values())
    bar = tqdm(total=total, desc=f"eval {system}", unit="utt", disable=not progress)
    try:
        for s in range(0, len(records), batch_size):
            chunk = records[s : s + batch_size]
            audio = [_audio(r) for r in chunk]
            crops = [_crops(r) for r in chunk] if visual else None
            for cond in conds:
                mixed = [condition_audio(bank, r["id"], a, cond) for r, a in zip(chunk, audio)]
                done: dict[str, list[str]] = {}
                for name in [n for n in runs[cond.name] if n != ROUTED]:
                    av.activate(name)
                    done[name] = whisper_texts(av, mixed, crops, decoding)
                    for r, h in zip(chunk, done[name]):
                        lines.setdefault((name, cond.name), []).append(utterance(r, system, name, cond, h))
                    bar.update(len(chunk))
                if ROUTED in runs[cond.name]:
                    picks = [choose(m) for m in mixed]
                    chosen = [c for c, _ in picks]
                    for name in sorted(set(chosen) - set(done)):
                        idx = [i for i, c in enumerate(chosen) if c == name]
                        av.activate(name)
                        texts = whisper_texts(
                            av, [mixed[i] for i in idx], [crops[i] for i in idx] if crops else None, decoding
                        )
                        done[name] = [""] * len(chunk)
                        for i, t in zip(idx, texts):
                            done[name][i] = t
                    for i, r in enumerate(chunk):
                        u = utterance(r, system, ROUTED, cond, done[chosen[i]][i])
                        est = picks[i][1] or {}
                        u |= {
                            "routed_to": chosen[i],
                            "noise_category": est.get("category"),
                            "noise_snr": est.get("snr"),
                        }
                        lines.setdefault((ROUTED, cond.name), []).append(u)
                    bar.update(len(chunk))
    finally:
        bar.close()
        av.activate(None)
    order = {c.name: i for i, c in enumerate(conds)}
    keys = sorted(lines, key=lambda k: (list(sets).index(k[0]), order[k[1]]))
    return [u for k in keys for u in sorted(lines[k], key=lambda u: u["id"])]


def _audio(r: dict[str, Any]) -> np.ndarray:
    a = read_audio(r["audio"])
    if a is None or len(a) == 0:
        raise EvalInputError(f"{r['id']}: {r['audio']} has no audio")
    return a


def run_vsr(
    reader,
    records: Sequence[dict[str, Any]],
    to_text: Callable[[list[list[str]]], list[str]] | None,
    text_name: str,
    batch_size: int = 8,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Lip reading: crops -> phonemes (:meth:`avsr.recognizers.lip.LipReader.phonemes`, one padded batch
    of ``batch_size`` clips) -> text by ``to_text`` (a phoneme-to-text model, or dictionary
    lookup). Lines carry the phoneme edits too (``ref_phonemes``, ``hyp_phonemes``,
    ``phoneme_edits``, ``ref_phoneme_count``); without ``to_text`` the hypothesis text is empty
    and only PER is meaningful."""
    from tqdm import tqdm

    from avsr.data.crops import record_phonemes

    refs = record_phonemes(list(records))
    out = []
    cond = Condition(CLEAN)
    with tqdm(total=len(records), desc="eval vsr", unit="utt", disable=not progress) as bar:
        for s in range(0, len(records), batch_size):
            chunk = records[s : s + batch_size]
            hyps = reader.phonemes([_crops(r) for r in chunk])
            texts = to_text(hyps) if to_text is not None else [""] * len(chunk)
            for r, ref, hyp, text in zip(chunk, refs[s : s + batch_size], hyps, texts):
                line = utterance(r, "vsr", text_name, cond, text)
                line.update(
                    ref_phonemes=" ".join(ref),
                    hyp_phonemes=" ".join(hyp),
                    phoneme_edits=edits(ref, hyp),
                    ref_phoneme_count=len(ref),
                )
                out.append(line)
            bar.update(len(chunk))
    return sorted(out, key=lambda u: u["id"])


def run_word_reader(
    reader, records: Sequence[dict[str, Any]], name: str, batch_size: int = 8, progress: bool = False
) -> list[dict[str, Any]]:
    """Lip reading with a model that outputs words (:meth:`avsr.recognizers.published.AutoAVSRReader.read`):
    crops of ``batch_size`` clips per padded batch -> text; lines carry the hypothesis score."""
    from tqdm import tqdm

    out = []
    cond = Condition(CLEAN)
    with tqdm(total=len(records), desc="eval vsr", unit="utt", disable=not progress) as bar:
        for s in range(0, len(records), batch_size):
            chunk = records[s : s + batch_size]
            for r, res in zip(chunk, reader.read([_crops(r) for r in chunk])):
                line = utterance(r, "vsr", name, cond, res["text"])
                line["score"] = res["score"]
                out.append(line)
            bar.update(len(chunk))
    return sorted(out, key=lambda u: u["id"])
