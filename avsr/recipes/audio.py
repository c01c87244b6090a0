"""Small audio corpora as manifests: transcribed speech folders and noise-source lists.

``speech_records(root)`` reads transcripts in the two layouts found in speech toolkits' test
data: a ``NAME.txt`` beside ``NAME.wav``, or a ``transcription`` / ``*.transcription`` file of
``<s> words </s> (utterance-id)`` lines. The speaker group of an utterance is its folder.

``noise_records(...)`` lists noise sources by category and assigns each a split so that train
and test never share a file; a category with a single recording is split by time instead
(disjoint regions), and the record says so (``start``/``end``).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from avsr.core.audio import read_audio
from avsr.text import normalize

AUDIO_EXT = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
_TRANSCRIPTION = re.compile(r"^\s*(?:<s>)?\s*(.*?)\s*(?:</s>)?\s*\(([^()]+)\)\s*$")


def _transcriptions(folder: Path) -> dict[str, str]:
    out = {}
    for f in list(folder.glob("*.transcription")) + (
        [folder / "transcription"] if (folder / "transcription").is_file() else []
    ):
        for line in f.read_text(encoding="utf-8").splitlines():
            m = _TRANSCRIPTION.match(line)
            if m:
                out[m.group(2).strip()] = m.group(1)
    return out


def speech_records(root: str | os.PathLike) -> list[dict[str, Any]]:
    """``{"id", "audio", "text", "speaker", "seconds"}`` for every transcribed audio file under
    ``root`` (sorted by id; text normalised). Audio without a transcript is skipped."""
    root = Path(root)
    out = []
    for folder in sorted({p.parent for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXT}):
        table = _transcriptions(folder)
        for audio in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_EXT):
            txt = audio.with_suffix(".txt")
            text = txt.read_text(encoding="utf-8") if txt.is_file() else table.get(audio.stem)
            if text is None:
                continue
            a = read_audio(audio)
            rel = audio.relative_to(root)
            out.append(
                {
                    "id": str(rel.with_suffix("")).replace(os.sep, "/"),
                    "audio": str(audio),
                    "text": normalize(text),
                    "speaker": str(rel.parent).replace(os.sep, "/") if str(rel.parent) != "." else audio.stem,
                    "seconds": round(len(a) / 16000, 3) if a is not None else 0.0,
                }
            )
    return sorted(out, key=lambda r: r["id"])


def split_by_group(records: list[dict[str, Any]], key: str, test_share: float) -> list[dict[str, Any]]:
    """Records with ``split`` set: whole groups (sorted by name, the last ceil(share * n)) go to
    test, so no group is in both splits."""
    groups = sorted({r[key] for r in records})
    n_test = max(1, math.ceil(test_share * len(groups))) if len(groups) > 1 else 0
    test = set(groups[len(groups) - n_test :])
    return [{**r, "split": "test" if r[key] in test else "train"} for r in records]


def noise_records(files: dict[str, list[str | os.PathLike]], test_share: float = 0.3) -> list[dict[str, Any]]:
    """Noise sources ``{"id", "audio", "category", "split", "start", "end"}`` from
    ``{category: [files]}``: files are split whole between train and test; a category with
    one file gives train the first (1 - share) of it and test the rest."""
    out = []
    for cat, paths in sorted(files.items()):
        paths = sorted(Path(p) for p in paths)
        if len(paths) == 1:
            a = read_audio(paths[0])
            if a is None or len(a) == 0:
                raise ValueError(f"{paths[0]}: no audio")
            cut = round(len(a) / 16000 * (1 - test_share), 3)
            out.append(
                {
                    "id": f"{cat}/{paths[0].stem}:train",
                    "audio": str(paths[0]),
                    "category": cat,
                    "split": "train",
                    "start": 0.0,
                    "end": cut,
                }
            )
            out.append(
                {
                    "id": f"{cat}/{paths[0].stem}:test",
                    "audio": str(paths[0]),
                    "category": cat,
                    "split": "test",
                    "start": cut,
                    "end": 0.0,
                }
            )
            continue
        recs = [
            {"id": f"{cat}/{p.stem}", "audio": str(p), "category": cat, "group": p.name, "start": 0.0, "end": 0.0}
            for p in paths
        ]
        for r in split_by_group(recs, "group", test_share):
            r.pop("group")
            out.append(r)
    return out


def prepare_audio(
    speech_root: str | os.PathLike,
    noise: dict[str, list[str | os.PathLike]],
    out: str | os.PathLike,
    test_share: float = 0.3,
) -> dict[str, int]:
    """Write OUT/speech_train.jsonl, OUT/speech_test.jsonl (utterances split by speaker) and
    OUT/noise_sources.jsonl (noise files by category, split as in :func:`noise_records`, plus
    each utterance as a ``speech`` source for babble and side-speaker mixtures, in its
    speaker's split). Returns counts."""
    from avsr.core.jsonl import write_jsonl

    out = Path(out)
    speech = split_by_group(speech_records(speech_root), "speaker", test_share)
    if not speech:
        raise ValueError(f"{speech_root}: no transcribed audio found")
    bad = [c for c in noise if c not in ("noise", "music")]
    if bad:
        raise ValueError(
            f"noise categories must be 'noise' or 'music' (babble and side-speaker come from the speech), got {bad}"
        )
    sources = noise_records(noise, test_share) + [
        {"id": r["id"], "audio": r["audio"], "category": "speech", "split": r["split"]} for r in speech
    ]
    out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        write_jsonl(out / f"speech_{split}.jsonl", [r for r in speech if r["split"] == split])
    write_jsonl(out / "noise_sources.jsonl", sources)
    return {
        "speech_train": sum(r["split"] == "train" for r in speech),
        "speech_test": sum(r["split"] == "test" for r in speech),
        **{
            f"{c}_{s}": sum(r["category"] == c and r["split"] == s for r in sources)
            for c in ("noise", "music")
            for s in ("train", "test")
        },
    }
