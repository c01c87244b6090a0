"""``avsr roi``: extract mouth (or face) crops from many videos (:func:`avsr.roi.batch.run_batch`)."""

from __future__ import annotations

import sys

from avsr.cli.common import progress_arg


def add(sub) -> None:
    p = sub.add_parser(
        "roi",
        help="extract mouth (or face) crops from talking-face videos",
        description="Extract stable 25 fps mouth crops. Writes OUT/manifest.jsonl, OUT/errors.jsonl and, per clip, "
        "ID.roi.mkv (lossless crops), ID.landmarks.npz, ID.wav (when the video has audio) and ID.qa.png. "
        "Re-running skips finished clips.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="video files, folders, list files (.txt: one path a line) or glob patterns",
    )
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="time limit per clip (its own work: a worker's start-up is not counted): a clip that takes longer "
        "fails with the reason and the batch goes on",
    )
    p.add_argument("-c", "--config", help="YAML file of RoiConfig fields (e.g. configs/roi/face.yaml)")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override RoiConfig fields, e.g. --set landmark_stride=2",
    )
    p.add_argument("--mode", choices=["mouth", "face"], help="mouth crop (default) or VALLR-style full face")
    p.add_argument("--size", type=int, help="crop side in pixels (default 96 mouth, 224 face)")
    p.add_argument("--color", action="store_true", default=None, help="RGB crops instead of grey")
    progress_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from avsr.core.configs import build
    from avsr.core.errors import UsageError
    from avsr.core.jobs import collect_inputs
    from avsr.roi.batch import run_batch
    from avsr.roi.config import RoiConfig

    if args.jobs < 1:
        raise UsageError("-j/--jobs must be >= 1")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be > 0 seconds")
    cfg = build(RoiConfig, args.config, args.set, mode=args.mode, size=args.size, color=args.color)
    jobs, errors = collect_inputs(args.inputs)
    res = run_batch(jobs, args.out, cfg, workers=args.jobs, progress=args.progress, errors=errors, timeout=args.timeout)
    print(
        f"{res.done} clips extracted, {res.skipped} already done, {len(res.failed)} failed -> {args.out}/manifest.jsonl"
    )
    for e in res.failed[:20]:
        print(f"  failed: {e['id']}: {e['error']}", file=sys.stderr)
    if len(res.failed) > 20:
        print(f"  ... {len(res.failed) - 20} more in {args.out}/errors.jsonl", file=sys.stderr)
    return res.exit_code
