"""Preparation worker processes for ``avsr transcribe -j N``, without torch.

A worker decodes media, cuts segments and extracts mouth crops (:class:`Preparer`: PyAV,
OpenCV, mediapipe, numpy). It is a spawned process that never imports torch, so it costs about
a quarter of what a DataLoader worker does: a DataLoader worker is a torch process, and
importing torch alone takes ~480 MB of resident memory here, against ~110 MB for everything
preparation needs.

The processes are the job runner's (:func:`avsr.core.pool.in_workers`): each takes every
``n``-th input and streams its segments back, ``prefetch`` segments ahead, so a worker prepares
while the models decode. A worker that dies fails the input it was preparing (an error segment)
and a new worker takes its remaining inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from avsr.core.jobs import Job
from avsr.core.pool import NOT_STARTED, in_workers
from avsr.recognizers.prepare import Preparer, Segment


@dataclass(frozen=True)
class PrepareJob:
    """The job function of the workers (picklable): one input -> its segments."""

    prep: Preparer

    def __call__(self, i: int, job: Job) -> Iterator[Segment]:
        return self.prep(i, job.id, job.source, job.extra, job.media)

    def warmup(self) -> None:
        """Run in a worker before its first input (:func:`avsr.core.pool.in_workers`): load the
        crop extraction (mediapipe and its graphs) when inputs may need it."""
        p = self.prep
        video = p.mode in ("auto", "vsr") and "vsr" not in p.unavailable
        av = p.mode in ("auto", "avsr") and "av" not in p.unavailable and (p.crops or p.montage_dir is not None)
        if video or av:
            from avsr.roi.batch import warm_up
            from avsr.roi.config import RoiConfig

            warm_up(p.roi or RoiConfig())


def _died(i: int, job: Job, results: int, why: str) -> Segment:
    if why.startswith(NOT_STARTED):
        error = f"{why}, so this input was not prepared"
    elif why.startswith("stopped after"):
        error = f"preparing this input took too long: {why} (--timeout)"
    else:
        error = f"the preparation worker died ({why}) while preparing this input"
    return Segment(item=i, id=job.id, source=job.source, index=results, extra=dict(job.extra), error=error)


def prepared(
    jobs: list[tuple[int, Job]], prep: Preparer, workers: int, prefetch: int, timeout: float | None = None
) -> Iterator[Segment]:
    """The segments of ``jobs`` (``(item, Job)`` pairs) prepared in ``workers`` processes, in the
    order they are ready (an input's segments in order). At most ``prefetch`` segments per worker
    wait to be taken; ``timeout``: seconds one input may take to prepare (a worker's start-up,
    its warm-up included, not counted)."""
    work = PrepareJob(prep)
    return in_workers(jobs, work, workers, prefetch, _died, timeout, warmup=work.warmup)
