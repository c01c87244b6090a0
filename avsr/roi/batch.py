"""ROI extraction over many videos: ``OUT/manifest.jsonl`` + ``OUT/errors.jsonl``, resumable.

A clip's files are complete before its manifest line is written, so a re-run skips every clip
in the manifest and redoes the rest; failures are retried on each run. One bad input becomes
one line in ``errors.jsonl`` and the batch goes on, also when a worker process dies (the job
runner's parts are in :mod:`avsr.core.jobs`, shared with ``avsr transcribe``).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avsr.core.configs import from_dict
from avsr.core.errors import MediaError, UsageError
from avsr.core.files import output_folder
from avsr.core.jobs import Job, RunLock, RunSummary, error_record, finished_ids, without_position
from avsr.core.jsonl import JsonlAppender, write_jsonl
from avsr.core.pool import NOT_STARTED, in_workers
from avsr.roi.config import RoiConfig

log = logging.getLogger(__name__)
MANIFEST, CONFIG = "manifest.jsonl", "roi_config.json"


@dataclass(frozen=True)
class ExtractJob:
    """The job function of ``avsr roi`` (picklable, for the worker processes): one record, the
    clip's manifest line on success or an error line on failure."""

    out_dir: str
    config: dict[str, Any]
    threads: int

    def __call__(self, i: int, job: Job) -> Iterator[dict[str, Any]]:
        from avsr.roi.save import extract_to

        try:
            rec = extract_to(job.source, self.out_dir, job.id, from_dict(RoiConfig, self.config), workers=self.threads)
            rec.update(job.extra)
            yield rec
        except MediaError as e:
            yield error_record(job.id, job.source, str(e))
        except Exception as e:  # an unexpected failure must not stop the batch: keep its traceback
            yield error_record(
                job.id, job.source, f"{e.__class__.__name__}: {e}", {"traceback": traceback.format_exc(limit=8)}
            )

    def warmup(self) -> None:
        """Run in a worker before its first clip (:func:`avsr.core.pool.in_workers`)."""
        warm_up(from_dict(RoiConfig, self.config))


def warm_up(cfg: RoiConfig) -> None:
    """Load what a process's first clip would otherwise load: the extraction modules (PyAV,
    OpenCV, numpy) and mediapipe, and the face detector's and FaceMesh's graphs, each run once
    on a blank frame (their native start-up messages kept off the terminal). It costs about a
    second, more on a loaded machine: a worker's start-up, which the per-clip time limit does
    not count."""
    import numpy as np

    import avsr.roi.save  # noqa: F401  (extract_to's modules)
    from avsr.roi.detect import FaceDetector
    from avsr.roi.landmarks import SpeakerLandmarker
    from avsr.roi.native_log import quiet_native_stderr

    blank = np.zeros((64, 64, 3), np.uint8)
    with quiet_native_stderr():  # mediapipe's start-up chatter, kept off the terminal as in a clip's analysis
        det, mesh = FaceDetector(cfg), SpeakerLandmarker(cfg)
        try:
            det(blank, 1.0)
            mesh(0, (blank, 1.0), np.array([32.0, 32.0, 32.0]))
        finally:
            det.close()
            mesh.close()


def _died(i: int, job: Job, results: int, why: str) -> dict[str, Any]:
    if why.startswith(NOT_STARTED):
        return error_record(job.id, job.source, f"{why}, so this clip was not processed")
    if why.startswith("stopped after"):
        return error_record(job.id, job.source, f"processing this clip took too long: {why} (--timeout)")
    return error_record(
        job.id, job.source, f"the worker process died ({why}) while processing this clip (crash in a native library?)"
    )


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
    timeout: float | None = None,
) -> RunSummary:
    """Extract ROIs for ``jobs`` into ``out_dir`` with ``workers`` processes. Clips already in
    the manifest (with their files present) are skipped. ``errors`` (e.g. from
    :func:`collect_inputs`) are written to the errors file too. ``manifest`` names the manifest
    (``manifest.jsonl``); its errors file and lock are named after it, so several shards can
    share one output folder. ``timeout``: seconds a clip may take (it then fails with the reason;
    enforced in a worker process, so at least one is used; the worker's start-up, warm-up
    included, is not counted)."""
    from tqdm import tqdm

    cfg = cfg or RoiConfig()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder; -o/--out takes a folder")
    output_folder(out)
    stem = manifest[: -len(".jsonl")] if manifest.endswith(".jsonl") else manifest
    man_path, err_path = out / manifest, out / (stem.replace("manifest", "errors", 1) + ".jsonl")
    if man_path == err_path:
        raise UsageError(f"manifest name {manifest!r} must contain 'manifest'")
    with RunLock(out / f".{stem}.lock", str(out)):
        _check_config(out, cfg)
        if manifest == MANIFEST:  # sole writer of this folder (shards leave each other's alone)
            for stale in glob.glob(str(out / "**" / ".*.tmp*"), recursive=True):
                os.remove(stale)  # partial files of an interrupted run: never trusted, now removed
        done = finished_ids(man_path, keep=lambda r: all((out / r[k]).exists() for k in ("roi", "landmarks")))
        result = RunSummary(skipped=sum(j.id in done for j in jobs))
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
                e = without_position(e)
                result.failed.append(e)
                err.write(e)
            work = ExtractJob(str(out), cfg.to_dict(), threads)
            items = list(enumerate(todo))
            results = (
                (r for i, j in items for r in work(i, j))
                if workers <= 1 and timeout is None
                else in_workers(items, work, max(1, workers), 2, _died, timeout, warmup=work.warmup)
            )
            for rec in results:
                record(rec)
        bar.close()
        # a finished run leaves its manifest sorted by id, whatever order the workers finished in
        write_jsonl(man_path, sorted(done.values(), key=lambda r: r["id"]))
        return result
