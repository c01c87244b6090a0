"""What a run's output already holds, and resuming it: the finished inputs (also in the part files
of an interrupted multi-process run), a resume that must use the models the output was written
with, the part files of several ranks merged into the output in input order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from avsr.core.errors import UsageError
from avsr.core.jobs import POSITION, Job, finished_ids
from avsr.core.jsonl import write_jsonl


def input_order(jobs: list[Job], errors: list[dict[str, Any]]) -> list[str]:
    """The ids of the jobs and the input errors in input order (errors by their ``_position``)."""
    at: dict[int, list[str]] = {}
    for e in errors:
        at.setdefault(e.get(POSITION, len(jobs)), []).append(e["id"])
    return [i for k, j in enumerate(jobs) for i in (*at.pop(k, []), j.id)] + [i for v in at.values() for i in v]


def same_models(done: dict[str, dict[str, Any]], models: dict[str, dict[str, str]], out: Path) -> None:
    """A resumed run must use the models and options the output was written with (as ``avsr roi``
    refuses a mixed configuration): UsageError naming what differs. Paths of shipped models
    written by earlier versions compare by their registry names."""
    from avsr.core.registry import portable_name

    for rec in done.values():
        want = models.get("vsr" if rec.get("mode") == "vsr" else "av")
        if "error" in rec or not want or "model" not in rec:
            continue
        had = {k: portable_name(v) if k in ("adapters", "classifier", "router") else v for k, v in rec["model"].items()}
        if had != want:
            diff = "; ".join(
                f"{k}: {had.get(k, '(none)')} -> {want.get(k, '(none)')}"
                for k in sorted(set(had) | set(want))
                if had.get(k) != want.get(k)
            )
            raise UsageError(
                f"{out} was written with other models or options ({diff}): resume it with the same options, "
                "or write to a new -o"
            )


def part_path(out: Path, rank: int, world: int) -> Path:
    return out.with_name(f"{out.name}.part-{rank}-of-{world}")


def finished(out: Path, retry_failed: bool = False) -> dict[str, dict[str, Any]]:
    """id -> record already in the output (and in part files of an interrupted DDP run);
    with ``retry_failed``, error lines are dropped from the output so that they run again."""
    recs = finished_ids(out, *sorted(out.parent.glob(out.name + ".part-*")))
    if retry_failed and any("error" in r for r in recs.values()):
        recs = {k: r for k, r in recs.items() if "error" not in r}
        write_jsonl(out, recs.values())
        for f in out.parent.glob(out.name + ".part-*"):
            f.unlink()
    return recs


def merge_parts(out: Path, order: list[str]) -> None:
    """Rank 0, after every rank finished: output + part files -> the output in input order."""
    recs = finished(out)
    rank = {cid: i for i, cid in enumerate(order)}
    write_jsonl(out, sorted(recs.values(), key=lambda r: (rank.get(r["id"], len(rank)), r["id"])))
    for f in out.parent.glob(out.name + ".part-*"):
        f.unlink()
