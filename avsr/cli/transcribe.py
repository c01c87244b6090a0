"""``avsr transcribe``: one file or thousands, resumable (:mod:`avsr.transcribe`, over the recognisers of
:mod:`avsr.recognizers`)."""

from __future__ import annotations

import os
import sys

from avsr.cli.common import decoding_args, decoding_options, model_args, progress_arg
from avsr.recognizers.options import PRECISIONS


def add(sub) -> None:
    p = sub.add_parser(
        "transcribe",
        help="transcribe video or audio files (one, or thousands: resumable batch)",
        description="Transcribe. "
        "--mode avsr: audio + mouth crops -> frozen Whisper with the adapter set the noise classifier and router pick "
        "(audio only when there is no face); asr: audio only; vsr: silent video -> mouth crops -> phonemes "
        "(VSR checkpoint) -> text "
        "(phoneme-to-text adapter). With -o, one JSON line per input; re-running the same command skips inputs already "
        "in the output. Files are read in segments (<= 30 s, cut at pauses), so long recordings use flat memory.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="video/audio files, folders (recursive), globs, list files (.txt) or JSONL manifests",
    )
    p.add_argument(
        "--mode",
        choices=["auto", "avsr", "asr", "vsr"],
        default="auto",
        help="auto (default): avsr for video with sound, vsr for silent video, asr for audio files",
    )
    p.add_argument(
        "-o",
        "--out",
        help="JSONL output (id, text, mode, model, segments, noise, adapter, timings; errors as lines with 'error')",
    )
    p.add_argument(
        "--srt",
        metavar="DIR",
        help="also write ID.srt captions here: cues of at most 2 lines of 42 characters and 7 s, timed by word "
        "timestamps (computed for them)",
    )
    p.add_argument("--vtt", metavar="DIR", help="also write ID.vtt captions here (the same cues as --srt)")
    p.add_argument("--crops", metavar="DIR", help="write a montage of each video's mouth crops here (ID.crops.png)")
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        help="worker processes decoding media and extracting crops while the models run (default 1; 0: none)",
    )
    model_args(p, "batch_size")
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="time limit for preparing one input (decoding, crops; a worker's start-up is not counted): one that "
        "takes longer fails with the reason and the batch goes on",
    )
    p.add_argument(
        "--devices", default="1", help="Lightning devices (e.g. 2, or 'auto'); >1 runs DDP, one process per device"
    )
    p.add_argument("--accelerator", default="cpu", help="Lightning accelerator: cpu (default), gpu, auto")
    p.add_argument("--strategy", default="auto", help="Lightning strategy (ddp for several devices or nodes)")
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument(
        "--precision",
        default="32-true",
        choices=PRECISIONS,
        help="Lightning precision: 32-true (default, exact), bf16-mixed (autocast: ~1.3-1.6x faster Whisper on CPUs "
        "with bf16 units and on GPUs; recorded in each output line's model)",
    )
    p.add_argument("--retry-failed", action="store_true", help="redo inputs whose line in the output is an error")
    progress_arg(p)
    p.add_argument("-q", "--quiet", action="store_true", help="do not print each transcript")
    g = p.add_argument_group("avsr / asr")
    model_args(g, "whisper", "adapters", "adapter", "classifier", "router", "engine", "compute_type", "quantize")
    decoding_args(g)
    model_args(p, "beam")
    model_args(p.add_argument_group("vsr"), "vsr", "tokens", "ctc_weight", "p2t", "phonemes_only", "decode")
    model_args(p.add_argument_group("Auto-AVSR audio, audio-visual, LM"), "asr", "avsr", "lm", "lm_config", "lm_weight")
    model_args(p, "device")
    p.set_defaults(func=run)


def describe(rec: dict) -> str:
    if "error" in rec:
        return f"{rec['source']}: error: {rec['error']}"
    text = rec["text"] if rec.get("text") is not None else rec.get("phonemes", "")
    if text == "" and rec["mode"] != "vsr":
        why = {s.get("skipped") for s in rec.get("segments", [])} - {None}
        text = f"(no speech: {', '.join(sorted(why))})" if why else "(no text)"
    by = list(dict.fromkeys(s["by"] for s in rec.get("segments", []) if "by" in s))
    if rec["mode"] == "vsr":
        info = f"[vsr, face {100 * (rec.get('face_ratio') or 0):.0f}% of frames]"
    elif by:  # the Auto-AVSR audio / audio-visual models: which read it
        info = f"[{rec['mode']}, Auto-AVSR, read by {' + '.join(by)}{'; ' + rec['note'] if rec.get('note') else ''}]"
    else:
        n = rec.get("noise")
        unheard = "noise not estimated" if rec.get("model", {}).get("classifier") else "noise: no classifier"
        noise = f"noise {n['category']} ~{n['snr']:.0f} dB" if n else unheard
        info = (
            f"[{rec['mode']}, {noise}, adapter {rec['adapter']} ({rec['route']})"
            f"{', visual' if rec.get('visual') else ''}"
            f"{'; ' + rec['note'] if rec.get('note') else ''}]"
        )
    crops = f"\n  mouth crops: {rec['montage']}" if rec.get("montage") else ""
    return f"{rec['source']}: {text}\n  {info}{crops}"


def run(args) -> int:
    import tempfile

    from avsr.core.errors import UsageError
    from avsr.core.jobs import collect_inputs
    from avsr.core.media import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
    from avsr.recognizers.load import load_for_inputs, with_media
    from avsr.recognizers.options import ModelOptions
    from avsr.recognizers.prepare import Preparer
    from avsr.transcribe.engine import BatchOptions, TranscribeTask
    from avsr.transcribe.engine import run as run_batch

    if args.jobs < 0:
        raise UsageError("-j/--jobs must be >= 0")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be > 0 seconds")
    captions = bool(args.srt or args.vtt)  # their cues are timed by word timestamps (unless --no-word-timestamps)
    opts = ModelOptions.from_args(args, decoding=decoding_options(args, args.beam, captions=captions))
    opts.check(args.precision, args.accelerator)
    jobs, errors = collect_inputs(args.inputs, VIDEO_EXTENSIONS + AUDIO_EXTENSIONS)
    for e in errors:
        print(f"{e['source']}: error: {e['error']}", file=sys.stderr)
    if not jobs and not args.out:
        raise UsageError("no input to transcribe")
    jobs = with_media(jobs, args.mode)  # one look at the files auto mode must know of; it travels with them
    recognizers, missing = load_for_inputs(jobs, args.mode, opts, args.accelerator)  # only the models the inputs need
    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    batch = BatchOptions(
        workers=args.jobs,
        batch_size=args.batch_size,
        accelerator=args.accelerator,
        devices=devices,
        strategy=args.strategy,
        num_nodes=args.num_nodes,
        precision=args.precision,
        srt=args.srt,
        vtt=args.vtt,
        words=bool(args.word_timestamps),
        retry_failed=args.retry_failed,
        progress=args.progress,
        timeout=args.timeout,
    )
    prep = Preparer(
        args.mode,
        montage_dir=args.crops,
        threads=1 if args.jobs > 1 else 2,
        unavailable=missing,
        crops=any(getattr(r, "needs_crops", True) for r in recognizers if r.kind == "av"),
        rois={r.kind: r.roi for r in recognizers if r.roi is not None},  # each model's own crop recipe
    )
    models = {kind: {} for kind in ("av", "vsr")} | {r.kind: dict(r.names) for r in recognizers}
    if args.precision != "32-true":
        for m in models.values():
            m["precision"] = args.precision

    def show(rec):
        if not args.quiet:
            from tqdm import tqdm

            tqdm.write(describe(rec), file=sys.stderr if "error" in rec else sys.stdout)

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or os.path.join(tmp, "out.jsonl")
        summary = run_batch(
            jobs, out, prep, TranscribeTask(recognizers, missing), models, batch, on_record=show, errors=errors
        )
    if summary.rank != 0:
        return summary.exit_code
    rate = (
        f" in {summary.wall_seconds:.1f} s ({summary.audio_seconds / max(summary.wall_seconds, 1e-9):.1f}x realtime)"
        if summary.done
        else ""
    )
    where = f" -> {args.out}" if args.out else ""
    print(
        f"{summary.done} transcribed, {summary.skipped} already done, {len(summary.failed)} failed{rate}{where}",
        file=sys.stderr,
    )
    return summary.exit_code
