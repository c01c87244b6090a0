"""LRS2 / LRS3 corpus recipes: corpus folder -> ROI files + one JSONL manifest per split.

LRS3: ``ROOT/{pretrain,trainval,test}/<speaker>/<utt>.mp4`` with ``<utt>.txt`` beside each clip
whose first line is ``Text:  THE TRANSCRIPT``.
LRS2: ``ROOT/main/<video>/<utt>.mp4`` (+ ``.txt``) for the train/val/test lists and
``ROOT/pretrain/<video>/<utt>.mp4`` for pretrain, with ``ROOT/{train,val,test,pretrain}.txt``
listing ``<video>/<utt>`` (first column; LRS2's test list may add a second).

``prepare_lrs3(root, out)`` / ``prepare_lrs2(root, out)`` write ``OUT/<split>/...`` crops and
``OUT/<split>/manifest.jsonl`` (each line the ROI record plus ``text`` and ``split``). With
``shard=(i, n)`` a machine takes the clips whose id hashes to ``i`` mod ``n`` and writes
``manifest.shard-i-of-n.jsonl``; :func:`merge_shards` joins them when all are done.
"""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path
from typing import Any

from avsr.core.errors import InputError
from avsr.core.jobs import Job, RunSummary
from avsr.core.jsonl import read_jsonl, write_jsonl
from avsr.roi.batch import run_batch
from avsr.roi.config import RoiConfig

LRS3_SPLITS = ("pretrain", "trainval", "test")
LRS2_SPLITS = ("pretrain", "train", "val", "test")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> (i, n); None -> (0, 1)."""
    if not text:
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not (0 <= int(m.group(1)) < int(m.group(2))):
        raise ValueError(f"--shard must be i/n with 0 <= i < n, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def in_shard(clip_id: str, shard: tuple[int, int]) -> bool:
    """Stable assignment of a clip to a shard (crc32 of its id), independent of listing order."""
    return zlib.crc32(clip_id.encode("utf-8")) % shard[1] == shard[0]


def read_lrs_text(path: str | os.PathLike) -> str:
    """The transcript of an LRS2/LRS3 ``.txt`` file (its ``Text:`` line), upper case as given."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("Text:"):
                return " ".join(line[len("Text:") :].split())
    raise ValueError(f"{path}: no 'Text:' line")


def _job(video: Path, clip_id: str, split: str) -> tuple[Job | None, dict[str, Any] | None]:
    txt = video.with_suffix(".txt")
    try:
        text = read_lrs_text(txt)
    except (OSError, ValueError) as e:
        return None, {"id": clip_id, "source": str(video), "error": f"transcript: {e}"}
    return Job(clip_id, str(video), {"text": text, "split": split}), None


def lrs3_jobs(root: str | os.PathLike, split: str) -> tuple[list[Job], list[dict[str, Any]]]:
    base = Path(root) / split
    if not base.is_dir():
        raise InputError(f"{base}: no such LRS3 split folder (expected {', '.join(LRS3_SPLITS)} under {root})")
    jobs, errors = [], []
    for v in sorted(base.glob("*/*.mp4")):
        j, e = _job(v, v.relative_to(base).with_suffix("").as_posix(), split)
        jobs += [j] if j else []
        errors += [e] if e else []
    return jobs, errors


def lrs2_jobs(root: str | os.PathLike, split: str) -> tuple[list[Job], list[dict[str, Any]]]:
    root = Path(root)
    listing = root / f"{split}.txt"
    if not listing.is_file():
        raise InputError(
            f"{listing}: no such LRS2 list (expected {', '.join(s + '.txt' for s in LRS2_SPLITS)} in {root})"
        )
    folder = root / ("pretrain" if split == "pretrain" else "main")
    jobs, errors = [], []
    for line in listing.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        clip_id = line.split()[0]
        video = folder / f"{clip_id}.mp4"
        if not video.is_file():
            errors.append(
                {"id": clip_id, "source": str(video), "error": f"{video}: listed in {listing.name} but missing"}
            )
            continue
        j, e = _job(video, clip_id, split)
        jobs += [j] if j else []
        errors += [e] if e else []
    return jobs, errors


def _prepare(lister, splits, root, out_dir, cfg, shard, workers, progress) -> dict[str, RunSummary]:
    results = {}
    for split in splits:
        jobs, errors = lister(root, split)
        jobs = [j for j in jobs if in_shard(j.id, shard)]
        errors = [e for e in errors if in_shard(e["id"], shard)]
        name = "manifest.jsonl" if shard[1] == 1 else f"manifest.shard-{shard[0]}-of-{shard[1]}.jsonl"
        results[split] = run_batch(jobs, Path(out_dir) / split, cfg, workers, progress, errors, manifest=name)
    return results


def prepare_lrs3(
    root,
    out_dir,
    splits=LRS3_SPLITS,
    cfg: RoiConfig | None = None,
    shard=(0, 1),
    workers: int = 1,
    progress: bool | None = None,
) -> dict[str, RunSummary]:
    """LRS3 corpus -> ``OUT/<split>/`` ROI files and manifest (see the module docstring)."""
    return _prepare(lrs3_jobs, splits, root, out_dir, cfg, shard, workers, progress)


def prepare_lrs2(
    root,
    out_dir,
    splits=LRS2_SPLITS,
    cfg: RoiConfig | None = None,
    shard=(0, 1),
    workers: int = 1,
    progress: bool | None = None,
) -> dict[str, RunSummary]:
    """LRS2 corpus -> ``OUT/<split>/`` ROI files and manifest (see the module docstring)."""
    return _prepare(lrs2_jobs, splits, root, out_dir, cfg, shard, workers, progress)


def merge_shards(split_dir: str | os.PathLike) -> int:
    """Join ``manifest.shard-*-of-N.jsonl`` into ``manifest.jsonl`` (sorted by id); refuses when
    a shard is missing. Returns the number of clips."""
    split_dir = Path(split_dir)
    files = sorted(split_dir.glob("manifest.shard-*-of-*.jsonl"))
    if not files:
        raise InputError(f"{split_dir}: no shard manifests")
    n = {int(re.search(r"-of-(\d+)", f.name).group(1)) for f in files}
    if len(n) != 1 or len(files) != next(iter(n)):
        raise ValueError(
            f"{split_dir}: found {len(files)} shard manifests for {sorted(n)} shards; wait for every shard"
        )
    records = sorted((r for f in files for r in read_jsonl(f)), key=lambda r: r["id"])
    return write_jsonl(split_dir / "manifest.jsonl", records)
