"""ROI extraction over many videos: ``OUT/manifest.jsonl`` + ``OUT/errors.jsonl``, resumable.

A clip's files are complete before its manifest line is written, so a re-run skips every clip
in the manifest and redoes the rest; failures are retried on each run. One bad input becomes
one line in ``errors.jsonl`` and the batch goes on, also when a worker process dies.
"""
from __future__ import annotations

import fcntl
import glob
import json
import logging
import os
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from avsr.configs import from_dict
from avsr.data.manifest import JsonlAppender, read_jsonl, write_jsonl
from avsr.io import VIDEO_EXTENSIONS, MediaError
from avsr.roi.config import RoiConfig

log = logging.getLogger(__name__)
LIST_EXTENSIONS = (".txt", ".lst", ".list", ".scp")
MANIFEST, CONFIG = "manifest.jsonl", "roi_config.json"


class UsageError(ValueError):
    """Bad arguments (exit code 2), as opposed to bad input files (exit code 1)."""


@dataclass(frozen=True)
class Job:
    id: str
    source: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # copied into the record


@dataclass
class BatchResult:
    done: int = 0
    skipped: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


MEDIA_KEYS = ("video", "source", "path", "media", "audio")  # where a manifest line names its file, in this order


def collect_inputs(inputs: list[str], extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> tuple[list[Job], list[dict[str, Any]]]:
    """Files, folders (searched recursively for files with ``extensions``), list files (one
    path a line, relative to the list's folder; ``#`` comments), JSONL manifests (``id`` and a
    path under one of MEDIA_KEYS, relative to the manifest's folder; the line's other fields,
    e.g. ``text``, travel with the job) or glob patterns -> jobs. Clip ids are paths relative
    to the folder given (``speaker/utt``) or the file's stem. Missing paths and duplicate ids
    come back as error records."""
    jobs: list[Job] = []
    errors: list[dict[str, Any]] = []

    def add(path: Path, cid: str, extra: dict[str, Any] | None = None) -> None:
        jobs.append(Job(cid, str(path), extra or {}))

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in extensions and not f.name.startswith("."))
            if not found:
                errors.append({"id": p.name, "source": str(p), "error": f"{p}: folder holds no media file ({', '.join(extensions)})"})
            for f in found:
                add(f, f.relative_to(p).with_suffix("").as_posix())
        elif p.is_file() and p.suffix.lower() in LIST_EXTENSIONS:
            for line in p.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    f = Path(line) if Path(line).is_absolute() else p.parent / line
                    if f.is_file():
                        add(f, f.stem)
                    else:
                        errors.append({"id": f.stem, "source": str(f), "error": f"{f}: no such file (listed in {p})"})
        elif p.is_file() and p.name.endswith((".jsonl", ".jsonl.gz")):
            for n, rec in enumerate(read_jsonl(p), 1):
                key = next((k for k in MEDIA_KEYS if isinstance(rec.get(k), str)), None)
                if key is None:
                    errors.append({"id": str(rec.get("id", f"{p.name}:{n}")), "source": str(p), "error": f"{p}:{n}: no media path ({'/'.join(MEDIA_KEYS)})"})
                    continue
                f = Path(rec[key]) if Path(rec[key]).is_absolute() else p.parent / rec[key]
                cid = str(rec.get("id") or f.stem)
                extra = {k: v for k, v in rec.items() if k not in ("id", key)}
                if "text" in extra:  # a reference transcript: kept beside the hypothesis, not over it
                    extra["ref"] = extra.pop("text")
                if f.is_file():
                    add(f, cid, extra)
                else:
                    errors.append({"id": cid, "source": str(f), "error": f"{f}: no such file (line {n} of {p})"})
        elif p.is_file():
            add(p, p.stem)
        elif any(c in item for c in "*?["):
            matched = sorted(glob.glob(item, recursive=True))
            if not matched:
                errors.append({"id": item, "source": item, "error": f"{item}: pattern matches no file"})
            for f in matched:
                add(Path(f), Path(f).stem)
        else:
            errors.append({"id": p.stem or item, "source": item, "error": f"{item}: no such file or folder"})
    seen: dict[str, str] = {}
    unique = []
    for j in jobs:
        if j.id in seen:
            errors.append({"id": j.id, "source": j.source, "error": f"duplicate clip id {j.id!r}: also {seen[j.id]}; give their folder instead"})
        else:
            seen[j.id] = j.source
            unique.append(j)
    return unique, errors


def _work(job: Job, out_dir: str, cfg_dict: dict[str, Any], threads: int) -> dict[str, Any]:
    """Runs in a worker process: a record on success, an error record on failure."""
    from avsr.roi.save import extract_to

    try:
        rec = extract_to(job.source, out_dir, job.id, from_dict(RoiConfig, cfg_dict), workers=threads)
        rec.update(job.extra)
        return rec
    except MediaError as e:
        return {"id": job.id, "source": job.source, "error": str(e)}
    except Exception as e:  # an unexpected failure must not stop the batch: keep its traceback
        return {"id": job.id, "source": job.source, "error": f"{e.__class__.__name__}: {e}", "traceback": traceback.format_exc(limit=8)}


def _init_worker() -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _check_config(out: Path, cfg: RoiConfig) -> None:
    f = out / CONFIG
    if f.exists():
        old = json.loads(f.read_text())
        if old != cfg.to_dict():
            diff = {k: (old.get(k), v) for k, v in cfg.to_dict().items() if old.get(k) != v}
            raise UsageError(f"{out} was made with another ROI config ({diff}); use a new output folder")
    else:
        f.write_text(json.dumps(cfg.to_dict(), indent=1))


def run_batch(
    jobs: list[Job],
    out_dir: str | os.PathLike,
    cfg: RoiConfig | None = None,
    workers: int = 1,
    progress: bool | None = None,
    errors: list[dict[str, Any]] | None = None,
    manifest: str = MANIFEST,
) -> BatchResult:
    """Extract ROIs for ``jobs`` into ``out_dir`` with ``workers`` processes. Clips already in
    the manifest (with their files present) are skipped. ``errors`` (e.g. from
    :func:`collect_inputs`) are written to the errors file too. ``manifest`` names the manifest
    (``manifest.jsonl``); its errors file and lock are named after it, so several shards can
    share one output folder."""
    from tqdm import tqdm

    cfg = cfg or RoiConfig()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder; -o/--out takes a folder")
    out.mkdir(parents=True, exist_ok=True)
    stem = manifest[: -len(".jsonl")] if manifest.endswith(".jsonl") else manifest
    man_path, err_path = out / manifest, out / (stem.replace("manifest", "errors", 1) + ".jsonl")
    if man_path == err_path:
        raise UsageError(f"manifest name {manifest!r} must contain 'manifest'")
    lock = open(out / f".{stem}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(f"{out} is in use by another `avsr roi` run") from None
    try:
        _check_config(out, cfg)
        if manifest == MANIFEST:  # sole writer of this folder (shards leave each other's alone)
            for stale in glob.glob(str(out / "**" / ".*.tmp*"), recursive=True):
                os.remove(stale)  # partial files of an interrupted run: never trusted, now removed
        done = {r["id"]: r for r in read_jsonl(man_path) if all((out / r[k]).exists() for k in ("roi", "landmarks"))}
        result = BatchResult(skipped=sum(j.id in done for j in jobs))
        todo = [j for j in jobs if j.id not in done]
        threads = max(1, (os.cpu_count() or 2) // max(1, workers))
        if progress is None:
            progress = sys.stderr.isatty()
        bar = tqdm(total=len(todo), unit="clip", disable=not progress, dynamic_ncols=True)
        err_path.unlink(missing_ok=True)
        with JsonlAppender(man_path) as man, JsonlAppender(err_path) as err:

            def record(rec: dict[str, Any]) -> None:
                if "error" in rec:
                    result.failed.append(rec)
                    err.write(rec)
                    log.info("failed %s: %s", rec["id"], rec["error"])
                else:
                    result.done += 1
                    man.write(rec)
                    done[rec["id"]] = rec
                bar.set_postfix(failed=len(result.failed), refresh=False)
                bar.update(1)

            for e in errors or []:
                result.failed.append(e)
                err.write(e)
            if workers <= 1:
                for j in todo:
                    record(_work(j, str(out), cfg.to_dict(), threads))
            else:
                _run_pool(todo, out, cfg, workers, threads, record)
        bar.close()
        # a finished run leaves its manifest sorted by id, whatever order the workers finished in
        write_jsonl(man_path, sorted(done.values(), key=lambda r: r["id"]))
        return result
    finally:
        lock.close()


def _run_pool(todo: list[Job], out: Path, cfg: RoiConfig, workers: int, threads: int, record) -> None:
    queue = list(reversed(todo))
    tries: dict[str, int] = {}
    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker)
    running: dict[Future, Job] = {}
    try:
        while queue or running:
            while queue and len(running) < 2 * workers:
                j = queue.pop()
                running[pool.submit(_work, j, str(out), cfg.to_dict(), threads)] = j
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                j = running.pop(fut)
                try:
                    record(fut.result())
                except BrokenProcessPool:
                    # a worker died (killed, or crashed in a native library) and took every clip
                    # in flight with it: retry those once each, then record them as failed
                    for k in [j] + list(running.values()):
                        tries[k.id] = tries.get(k.id, 0) + 1
                        if tries[k.id] > 1:
                            record({"id": k.id, "source": k.source, "error": "worker process died twice while processing this clip (crash in a native library?)"})
                        else:
                            queue.append(k)
                    running.clear()
                    pool.shutdown(cancel_futures=True)
                    pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker)
                    break
    finally:
        pool.shutdown(cancel_futures=True)
