"""Running the systems over a test manifest: Whisper (audio only, or audio + mouth crops through
an adapter set's fusion) under every condition, and the lip reader (phonemes, then text).

Whisper runs through the recogniser, exactly as ``avsr transcribe`` runs it (the same segments,
batching, decoding options and noise routing: the same words for the same audio, tested). Each
clip's audio and crops are read once and reused for every condition and set.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avsr.adapters.sets import NO_ADAPTER
from avsr.core import manifest
from avsr.core.audio import read_audio
from avsr.core.errors import InputError
from avsr.core.media import SAMPLE_RATE
from avsr.core.metrics import edits
from avsr.core.segments import SegmentConfig
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


ROUTED = "routed"  # the set the noise classifier and router choose, segment by segment: what transcribe does
WINDOW_SAMPLES = round(SegmentConfig().max_seconds * SAMPLE_RATE)  # a clip this long is one segment


def utterance_texts(
    rec, audio: Sequence[np.ndarray], crops: Sequence[np.ndarray | None] | None, adapter: str | None
) -> tuple[list[str], list[list[dict[str, Any]]]]:
    """Texts of clips as ``avsr transcribe`` makes them: each clip cut into Whisper windows at its
    pauses (:func:`~avsr.recognizers.prepare.clip_segments`), all windows decoded by the
    recogniser ``rec`` (its batching, its decoding options; ``adapter`` None: the set its noise
    classifier and router choose, else that set), the windows' texts joined as the record joins
    them. Also each clip's per-window results (``adapter``, ``noise``, ...)."""
    from avsr.recognizers.prepare import clip_segments
    from avsr.recognizers.record import join_texts

    crops = list(crops) if crops is not None else [None] * len(audio)
    segs = [s for i, (a, c) in enumerate(zip(audio, crops)) for s in clip_segments(i, a, c)]
    res = rec.decode(segs, adapter=adapter)
    per: list[list[dict[str, Any]]] = [[] for _ in audio]
    for seg, r in zip(segs, res):
        per[seg.item].append(r)
    return [join_texts([r["text"] for r in rs]) or "" for rs in per], per


def run_whisper(
    rec,
    records: Sequence[dict[str, Any]],
    conds: Sequence[Condition],
    sets: Sequence[str] = (NO_ADAPTER,),
    bank=None,
    visual: bool = False,
    system: str = "asr",
    progress: bool = False,
    plan: Callable[[Condition], Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """Scored utterance lines for every record x set x condition (noise added to the audio only;
    with ``visual`` the mouth crops go to each set's fusion), decoded by the
    :class:`~avsr.recognizers.audiovisual.AVRecognizer` ``rec`` as ``avsr transcribe`` decodes
    (:func:`utterance_texts`), ``rec.batch_size`` clips at a time. Ordered by set, condition, id.

    ``plan(cond)``: the sets to run under ``cond`` (default: all of ``sets``). The set name
    ``routed`` decodes each mixture with the set that ``rec``'s noise classifier and router choose
    (the default of ``avsr transcribe``); its lines record the choice (``routed_to``, the set of
    most of the clip's windows) and the estimate (``noise_category``, ``noise_snr``: its first window's)."""
    from tqdm import tqdm

    if ROUTED in sets and rec.classifier is None:
        raise EvalInputError("the 'routed' system needs a noise classifier (--classifier, or the shipped sets)")
    runs = {c.name: [n for n in (plan(c) if plan else sets) if n in sets] for c in conds}
    lines: dict[tuple[str, str], list[dict[str, Any]]] = {}
    total = len(records) * sum(len(v) for v in runs.values())
    size = rec.batch_size
    bar = tqdm(total=total, desc=f"eval {system}", unit="utt", disable=not progress)
    try:
        for s in range(0, len(records), size):
            chunk = records[s : s + size]
            audio = [_audio(r) for r in chunk]
            crops = [_crops(r) for r in chunk] if visual else None
            for cond in conds:
                mixed = [condition_audio(bank, r["id"], a, cond) for r, a in zip(chunk, audio)]
                done: dict[str, list[str]] = {}
                for name in sorted(runs[cond.name], key=lambda n: n == ROUTED):  # forced sets first
                    if name == ROUTED:
                        texts, notes = _routed(rec, mixed, crops, done)
                    else:
                        texts, _ = utterance_texts(rec, mixed, crops, name)
                        done[name], notes = texts, [{}] * len(chunk)
                    for r, h, note in zip(chunk, texts, notes):
                        lines.setdefault((name, cond.name), []).append(utterance(r, system, name, cond, h) | note)
                    bar.update(len(chunk))
    finally:
        bar.close()
    order = {c.name: i for i, c in enumerate(conds)}
    keys = sorted(lines, key=lambda k: (list(sets).index(k[0]), order[k[1]]))
    return [u for k in keys for u in sorted(lines[k], key=lambda u: u["id"])]


def _routed(
    rec, audio: list[np.ndarray], crops: list | None, done: dict[str, list[str]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """The ``routed`` texts of clips, and what each line records of the choice (``routed_to``: the
    set of most of the clip's windows; ``noise_category``, ``noise_snr``: its first window's). A
    clip of one window whose chosen set was already decoded as a forced set reuses that text
    (the same model on the same input); the others are decoded by the recogniser's routing."""
    crops = crops or [None] * len(audio)
    texts: list[str] = [""] * len(audio)
    notes: list[dict[str, Any]] = [{}] * len(audio)
    todo = []
    for i, a in enumerate(audio):
        if len(a) <= WINDOW_SAMPLES:
            name, est = rec.route(a, visual=crops[i] is not None)
            if name in done:
                texts[i], notes[i] = done[name][i], _note(name, est)
                continue
        todo.append(i)
    if todo:
        got, per = utterance_texts(rec, [audio[i] for i in todo], [crops[i] for i in todo], None)
        for i, t, rs in zip(todo, got, per):
            texts[i] = t
            notes[i] = _note(Counter(x["adapter"] for x in rs).most_common(1)[0][0], rs[0].get("noise"))
    return texts, notes


def _note(name: str, est: dict[str, Any] | None) -> dict[str, Any]:
    est = est or {}
    prob = (est.get("probs") or {}).get(est.get("category"))
    return {"routed_to": name, "noise_category": est.get("category"), "noise_snr": est.get("snr"), "noise_prob": prob}


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
    """Lip reading with a model that outputs words (:meth:`avsr.recognizers.autoavsr.AutoAVSRReader.read`):
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
