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
from avsr.core.pool import in_workers
from avsr.recognizers.prepare import Preparer, Segment


@dataclass(frozen=True)
class PrepareJob:
    """The job function of the workers (picklable): one input -> its segments."""

    prep: Preparer

    def __call__(self, i: int, job: Job) -> Iterator[Segment]:
        return self.prep(i, job.id, job.source, job.extra)


def _died(i: int, job: Job, results: int, why: str) -> Segment:
    error = (
        f"preparing this input took too long: {why} (--timeout)"
        if why.startswith("stopped after")
        else f"the preparation worker died ({why}) while preparing this input"
    )
    return Segment(item=i, id=job.id, source=job.source, index=results, extra=dict(job.extra), error=error)


def prepared(
    jobs: list[tuple[int, Job]], prep: Preparer, workers: int, prefetch: int, timeout: float | None = None
) -> Iterator[Segment]:
    """The segments of ``jobs`` (``(item, Job)`` pairs) prepared in ``workers`` processes, in the
    order they are ready (an input's segments in order). At most ``prefetch`` segments per worker
    wait to be taken; ``timeout``: seconds one input may take to prepare."""
    return in_workers(jobs, PrepareJob(prep), workers, prefetch, _died, timeout)
