"""Batch transcription on Lightning's prediction loop, or a plain loop when no model is a
PyTorch module (Whisper and the sets on CTranslate2 alone: no torch or Lightning imported).

Worker processes (:mod:`avsr.transcribe.workers`, feeding :class:`SegmentStream`) decode media,
cut it into segments and extract mouth crops while the main process runs the models on the
previous batch (:class:`TranscribeTask`): preparation and inference overlap. Under DDP (``devices`` > 1 or
several nodes) every rank takes every ``world``-th input, writes its own part file, and rank 0
merges the parts into the output when all ranks are done.

Output (:class:`ResultWriter`): one JSON line per input, in input order, appended and fsynced
as soon as the input and every input before it are finished, so a killed run loses at most
the inputs in flight and never leaves a partial line (a partial last line from a power cut is
cut off on the next start). A re-run skips every id already in the output.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from avsr.core.errors import UsageError
from avsr.core.files import output_folder
from avsr.core.jobs import (
    POSITION,
    Job,
    RunLock,
    RunSummary,
    error_record,
    release_memory,
    without_position,
)
from avsr.core.jsonl import JsonlAppender
from avsr.recognizers.prepare import Preparer, Segment
from avsr.recognizers.protocol import Recognizer
from avsr.recognizers.record import assemble, write_captions
from avsr.transcribe.lightning_loop import make_trainer, predict
from avsr.transcribe.resume import finished, input_order, merge_parts, part_path, same_models
from avsr.transcribe.workers import prepared

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOptions:
    workers: int = 1  # preparation processes (0: prepare in the main process, no overlap)
    batch_size: int = 8  # segments per model batch
    prefetch: int = 2  # batches each worker prepares ahead
    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1
    precision: str = (
        "32-true"  # Lightning precision; "bf16-mixed" autocasts the models (faster on CPUs with bf16 units)
    )
    srt: str | None = None  # caption folders
    vtt: str | None = None
    words: bool = True  # segments keep their word timestamps in the output (False: they only timed the captions)
    retry_failed: bool = False  # redo inputs whose line in the output is an error
    progress: bool | None = None  # None: when stderr is a terminal
    timeout: float | None = None  # seconds an input may take to prepare (in a worker process; it then fails)


class SegmentStream:
    """The inputs of one rank, prepared segment by segment: in ``workers`` torch-free processes
    (:mod:`avsr.transcribe.workers`) that work ahead while the models decode, or here with 0."""

    def __init__(
        self,
        jobs: list[tuple[int, Job]],
        prep: Preparer,
        workers: int = 0,
        prefetch: int = 8,
        timeout: float | None = None,
    ):
        self.jobs, self.prep, self.workers, self.prefetch, self.timeout = jobs, prep, workers, prefetch, timeout

    def __iter__(self):
        if self.workers > 0 or self.timeout is not None:  # a time limit needs a process to stop
            yield from prepared(self.jobs, self.prep, max(1, self.workers), self.prefetch, self.timeout)
            return
        for i, job in self.jobs:
            yield from self.prep(i, job.id, job.source, job.extra, job.media)


def batches(stream: SegmentStream, size: int) -> Iterator[list[Segment]]:
    batch: list[Segment] = []
    for seg in stream:
        batch.append(seg)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class TranscribeTask:
    """Routes each batch of segments to the recogniser that decodes its mode (any
    :class:`~avsr.recognizers.protocol.Recognizer`); a mode without one fails its inputs with
    the message in ``missing`` (kind -> why) saying what is missing."""

    def __init__(self, recognizers: list[Recognizer], missing: dict[str, str] | None = None):
        self.recognizers = [r for r in recognizers if r is not None]
        self.missing = missing or {}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {name: m for r in self.recognizers for name, m in r.modules().items()}

    def _for(self, mode: str) -> Recognizer | None:
        return next((r for r in self.recognizers if mode in r.modes), None)

    def __call__(self, batch: list[Segment]) -> list[tuple[Segment, dict[str, Any]]]:
        out: list[tuple[Segment, dict[str, Any]]] = []
        groups: dict[str, list[Segment]] = {}
        for s in batch:
            if s.error:
                out.append((s, {}))
            else:
                groups.setdefault("vsr" if s.mode == "vsr" else "av", []).append(s)
        for kind, segs in groups.items():
            rec = self._for(segs[0].mode)
            if rec is None:
                why = self.missing.get(kind, f"no {kind} model loaded")
                out += [(s, {"error": why}) for s in segs]
                continue
            out += list(zip(segs, rec.decode(segs)))
        return out


class ResultWriter:
    """Collects segment results into records and appends them in input order."""

    def __init__(
        self,
        path: Path,
        order: list[int],
        jobs: dict[int, Job],
        models: dict[str, dict[str, str]],
        opts: BatchOptions,
        summary: RunSummary,
        on_record: Callable[[dict[str, Any]], None] | None = None,
        bar=None,
        rejected: list[dict[str, Any]] | None = None,
    ):
        """``rejected``: inputs that failed before the run (collect_inputs' error records, with
        their ``_position``), written in their place in the input order."""
        self.out = JsonlAppender(path)
        self.rejected = sorted(rejected or [], key=lambda e: e[POSITION])
        self.order, self.pos, self.jobs = order, 0, jobs
        self.models, self.opts, self.summary, self.on_record, self.bar = models, opts, summary, on_record, bar
        self.partial: dict[int, list[tuple[Segment, dict[str, Any]]]] = {}
        self.ready: dict[int, dict[str, Any]] = {}
        self._t0 = time.perf_counter()

    def add(self, pairs: list[tuple[Segment, dict[str, Any]]]) -> None:
        for seg, res in pairs:
            seg.audio = seg.crops = None  # decoded: only the text and facts stay, so memory does not grow with length
            self.partial.setdefault(seg.item, []).append((seg, res))
            if seg.final:
                self.ready[seg.item] = self._record(sorted(self.partial.pop(seg.item), key=lambda p: p[0].index))
        while self.pos < len(self.order) and self.order[self.pos] in self.ready:
            self._reject_until(self.order[self.pos])
            self._write(self.ready.pop(self.order[self.pos]))
            self.pos += 1
        release_memory()  # the batch's audio, crops and activations are gone: return their pages

    def _reject_until(self, item: int | None) -> None:
        """Write the input errors placed before input ``item`` (None: all that are left)."""
        while self.rejected and (item is None or self.rejected[0][POSITION] <= item):
            e = self.rejected.pop(0)
            rec = error_record(e["id"], e["source"], e["error"])
            self.summary.failed.append(rec)
            self.out.write(rec)  # (the command said it when it collected the inputs)

    def _record(self, pairs: list[tuple[Segment, dict[str, Any]]]) -> dict[str, Any]:
        segs = [s for s, _ in pairs]
        failed = next((s for s in segs if s.error), None) or next((s for s, r in pairs if "error" in r), None)
        if failed is not None:
            why = failed.error or next(r["error"] for s, r in pairs if "error" in r)
            extra = {k: v for k, v in failed.extra.items() if k == "traceback"}
            return error_record(failed.id, failed.source, why, extra)
        return assemble(
            segs, [r for _, r in pairs], self.models.get("vsr" if segs[0].mode == "vsr" else "av", {})
        ).to_dict()

    def _write(self, rec: dict[str, Any]) -> None:
        if "error" in rec:
            self.summary.failed.append(rec)
        else:
            for fmt in ("srt", "vtt"):  # captions first: a line in the output means they exist
                folder = getattr(self.opts, fmt)
                if folder:
                    write_captions(rec, folder, fmt)
            if not self.opts.words and "segments" in rec:
                rec["segments"] = [{k: v for k, v in s.items() if k != "words"} for s in rec["segments"]]
            self.summary.done += 1
            self.summary.audio_seconds += rec.get("duration") or 0.0
        rec.update(
            {k: v for k, v in self.jobs[self.order[self.pos]].extra.items() if k not in rec}
        )  # e.g. a manifest's ref
        self.out.write(rec)
        if self.on_record:
            self.on_record(rec)
        if self.bar is not None:
            el = max(1e-9, time.perf_counter() - self._t0)
            self.bar.set_postfix_str(
                f"{self.summary.audio_seconds / el:.1f}x realtime, {len(self.summary.failed)} failed", refresh=False
            )
            self.bar.update(1)

    def close(self) -> None:
        if self.pos == len(self.order):  # every input is written: the errors after the last one
            self._reject_until(None)
        self.out.close()


def plain_loop(task: TranscribeTask, opts: BatchOptions) -> bool:
    """Whether the run needs no Lightning: no PyTorch module to place, one process on CPU."""
    return (
        not task.modules()
        and str(opts.devices) == "1"
        and opts.num_nodes == 1
        and opts.accelerator == "cpu"
        and opts.strategy == "auto"
    )


def run(
    jobs: list[Job],
    out: str | os.PathLike,
    prep: Preparer,
    task: TranscribeTask,
    models: dict[str, dict[str, str]],
    opts: BatchOptions = BatchOptions(),
    on_record: Callable[[dict[str, Any]], None] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> RunSummary:
    """Transcribe ``jobs`` into the JSONL file ``out`` (see the module docstring). ``errors``:
    inputs that failed before the run (e.g. missing files; :func:`~avsr.core.jobs.collect_inputs`'
    records with their place), written as error lines in their place in the input order."""
    from tqdm import tqdm

    out = Path(out)
    if out.is_dir():
        raise UsageError(f"{out} is a folder; -o/--out takes a .jsonl file")
    output_folder(out.parent)
    trainer = None if plain_loop(task, opts) else make_trainer(opts)
    rank0 = trainer is None or trainer.global_rank == 0
    state: dict[str, Any] = {"lock": RunLock(out.with_name(f".{out.name}.lock"), str(out))} if rank0 else {}
    try:
        done = finished(out, opts.retry_failed)
    except BaseException:
        if "lock" in state:
            state["lock"].close()
        raise
    try:
        same_models(done, models, out)
    except BaseException:
        if "lock" in state:
            state["lock"].close()
        raise
    pending = [(i, j) for i, j in enumerate(jobs) if j.id not in done]
    summary = RunSummary(skipped=len(jobs) - len(pending), rank=0 if trainer is None else trainer.global_rank)
    rejected = [e for e in errors or [] if e["id"] not in done] if rank0 else []
    summary.failed += [without_position(e) for e in errors or [] if e["id"] in done] if rank0 else []

    def stream(rank: int, world: int) -> SegmentStream:
        mine = pending[rank::world]
        workers = opts.workers if len(mine) > 1 else 0  # one input: nothing to overlap, no process to start
        return SegmentStream(mine, prep, workers, opts.prefetch * opts.batch_size, opts.timeout)

    def start(rank: int, world: int) -> None:
        mine = [i for i, _ in pending[rank::world]]
        progress = opts.progress if opts.progress is not None else sys.stderr.isatty()
        bar = tqdm(total=len(mine), unit="clip", disable=not progress or rank != 0, dynamic_ncols=True, smoothing=0.1)
        path = out if world == 1 else part_path(out, rank, world)
        state["writer"] = ResultWriter(
            path,
            mine,
            dict(pending),
            models,
            opts,
            summary,
            on_record if rank == 0 else None,
            bar,
            [{**e, POSITION: e.get(POSITION, len(jobs))} for e in rejected] if rank == 0 else None,
        )
        state["bar"] = bar

    def end() -> None:
        state["writer"].close()
        state["bar"].close()

    t0 = time.perf_counter()
    try:
        if trainer is None:
            start(0, 1)
            try:
                for batch in batches(stream(0, 1), opts.batch_size):
                    state["writer"].add(task(batch))
            finally:
                end()
        else:
            ids = input_order(jobs, errors or [])
            predict(trainer, task, stream, opts.batch_size, start, state, end, lambda: merge_parts(out, ids))
    finally:
        if "lock" in state:
            state["lock"].close()
    summary.wall_seconds = time.perf_counter() - t0
    if trainer is not None and trainer.world_size > 1:  # the other ranks' failures and counts are in the merged output
        ids = {j.id for _, j in pending}
        recs = [r for r in finished(out).values() if r["id"] in ids]
        summary.failed = [r for r in recs if "error" in r]
        summary.done = len(recs) - len(summary.failed)
        summary.audio_seconds = sum(r.get("duration") or 0.0 for r in recs)
    return summary
