"""Batch transcription on this machine, as ratios against baselines measured in the same run.

    python bench/batch.py [--whisper whisper-base] [--clips 28] [--long-minutes 1 10] [--vsr-configs ...]

1. Throughput: clips/s of the batch engine (what `avsr transcribe INPUTS -o out.jsonl` runs:
   worker processes decode media and extract mouth crops while Whisper decodes the previous
   batch) vs a sequential loop over the Python API (`AVRecognizer.transcribe(path)`) on the same
   talking-face clips (real face video + real speech, avsr mode), with the same loaded models.
   The loop runs the PyTorch engine in float32; the batch runs name their engine (ct2:
   CTranslate2, the default; target with ct2 int8: >= 1.8x, WER within 0.5 points of float32).
   Each run's texts are compared with the loop's, and
   every run's WER against the clips' reference transcripts is printed. The same for silent-video
   lip reading (vsr mode, `LipReader.transcribe(path)`, phonemes). For each mode the loop's CPU
   use is printed too: cores busy = its CPU seconds (all threads) / wall seconds, so
   cores / busy bounds what overlapping its stages can gain.
2. Memory: peak PSS of the command's process tree (main + workers at one moment, sampled every
   0.1 s; shared pages counted once), and RSS sums and per process beside it, of
   `avsr transcribe` on a 1-minute and a 10-minute talking-face file. Target: within 1.2x.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
FACE = FIX / "pyfeat_single_face_640x360.mp4"


def clips(folder: Path, n: int) -> tuple[list[Path], list[str]]:
    """One talking-face clip per fixture utterance (320x180 face, real speech), and each one's
    reference transcript."""
    from avsr.core.audio import read_audio
    from avsr.recipes.audio import speech_records
    from avsr.recipes.mux import face_loop, mux_face_speech

    loop = face_loop(FACE, (320, 180))
    recs = speech_records(FIX / "speech")
    recs = (recs * (n // len(recs) + 1))[:n]
    return [mux_face_speech(loop, read_audio(r["audio"]), folder / f"clip{i:03d}.mp4") for i, r in enumerate(recs)], [
        r["text"] for r in recs
    ]


def wer(refs: list[str], hyps: list[str]) -> float:
    """WER % as `avsr eval` scores it (Whisper's English normaliser on both sides)."""
    from avsr.core.metrics import error_rate
    from avsr.evaluation.scoring import words

    return 100 * error_rate([words(r) for r in refs], [words(h) for h in hyps])


def long_input(path: Path, minutes: float) -> Path:
    """A talking-face file of ``minutes``: the fixture speech with 0.4 s pauses, repeated."""
    from avsr.core.audio import read_audio
    from avsr.recipes.audio import speech_records
    from avsr.recipes.mux import face_loop, mux_face_speech

    gap = np.zeros(6400, np.float32)
    one = np.concatenate([x for r in speech_records(FIX / "speech") for x in (read_audio(r["audio"]), gap)])
    audio = np.tile(one, int(np.ceil(minutes * 60 * 16000 / len(one))))[: int(minutes * 60 * 16000)]
    return mux_face_speech(face_loop(FACE, (320, 180)), audio, path)


def _cpu_seconds() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _loop(fn, paths: list[Path], key: str) -> tuple[list, float, float]:
    """``fn(path)[key]`` for every path in a row: results, wall seconds, cores kept busy
    (CPU seconds of all this process's threads / wall seconds)."""
    fn(paths[0])  # warm-up: first-call allocations, mediapipe graph init
    c, t = _cpu_seconds(), time.perf_counter()
    got = [fn(p)[key] for p in paths]
    wall = time.perf_counter() - t
    return got, wall, (_cpu_seconds() - c) / wall


def _bound(busy: float) -> str:
    cores = len(os.sched_getaffinity(0))  # the cores this process may use (os.cpu_count() counts the host's)
    return (
        f"The loop keeps {busy:.2f} of {cores} cores busy: "
        f"running its stages side by side can make it at most {cores / busy:.2f}x faster here."
    )


def _batch_rows(
    tmp: Path, base: list[str], key: str, configs: list[str], seq_ref: list, t_seq: float, refs: list[str] | None
) -> None:
    """Time ``avsr transcribe LIST -o out.jsonl BASE OPTS`` per option string; compare ``key``
    of each line with the loop's."""
    import re

    n = len(seq_ref)
    for opts in configs:
        out = tmp / "batch.jsonl"
        out.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "avsr.cli",
            "transcribe",
            str(tmp / "list.txt"),
            *base,
            "-o",
            str(out),
            "-q",
            *opts.split(),
        ]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        m = re.search(r"(\d+) transcribed.* in ([\d.]+) s", r.stderr)
        if r.returncode != 0 or not m:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
        proc = float(m.group(2))
        got = [json.loads(x)[key] for x in out.read_text().splitlines()]
        same = sum(a == b for a, b in zip(seq_ref, got))
        w = f" | {wer(refs, got):.1f}%" if refs else ""
        print(
            f"| `avsr transcribe LIST -o out.jsonl {' '.join(base)} {opts}` | {wall:.1f} | {proc:.1f} | {n / proc:.2f} "
            f"| **{t_seq / proc:.2f}x** "
            f"(end to end {t_seq / wall:.2f}x); same {key} {same}/{n}{w} |"
        )


def throughput(args, paths: list[Path], refs: list[str], tmp: Path) -> None:
    import functools

    import torch

    from avsr.recognizers.load import load_recognizer

    rec = load_recognizer(args.whisper, engine="torch")  # with the shipped noise head and sets, as the CLI
    seq, t_seq, busy = _loop(functools.partial(rec.transcribe, mode="avsr"), paths, "text")
    del rec
    n = len(paths)
    (tmp / "list.txt").write_text("\n".join(str(p) for p in paths) + "\n")
    print(
        f"\n1a. throughput, avsr mode: {n} talking-face clips ({sum(_durations(paths)):.0f} s of speech), "
        f"{args.whisper}"
    )
    print(_bound(busy), "More needs less work per clip.")
    print(
        "| run | wall s (incl. start-up, model loading) | processing s | clips/s | vs sequential "
        "| WER vs references |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |"
    )
    print(
        f"| sequential loop over `load_recognizer(engine='torch').transcribe` "
        f"(float32, models loaded, {torch.get_num_threads()} threads) | "
        f"| {t_seq:.1f} | {n / t_seq:.2f} | 1.00x "
        f"| {wer(refs, seq):.1f}% |"
    )
    _batch_rows(tmp, ["--mode", "avsr", "--whisper", args.whisper], "text", args.configs, seq, t_seq, refs)
    for compute in args.faster_whisper:
        _faster_whisper_row(args, paths, compute, seq, t_seq, refs)
    if args.vsr_configs:
        vsr_throughput(args, paths, tmp)


def _faster_whisper_row(args, paths: list[Path], compute: str, seq: list, t_seq: float, refs: list[str]) -> None:
    """faster-whisper itself, a sequential loop over the same files (it reads the audio of the mp4),
    with the same weights and options: Whisper's fallback and no-speech defaults, no timestamps,
    no VAD; its load time is in the wall column, as the batch rows' start-up is."""
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        print(f"| faster-whisper {compute}: not installed | | | | | |")
        return
    from avsr.whisper.ct2_cache import registry_folder

    t0 = time.perf_counter()
    model = WhisperModel(str(registry_folder(args.whisper)), device="cpu", compute_type=compute, cpu_threads=2)

    def one(p: Path) -> str:
        segs, _ = model.transcribe(
            str(p),
            beam_size=1,
            language="en",
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(" ".join(s.text for s in segs).split())

    one(paths[0])  # warm-up, as the loop's
    t = time.perf_counter()
    got = [one(p) for p in paths]
    proc = time.perf_counter() - t
    wall = time.perf_counter() - t0
    same = sum(a == b for a, b in zip(seq, got))
    print(
        f"| faster-whisper {compute}, sequential loop over `WhisperModel.transcribe(path)` | {wall:.1f} | {proc:.1f} "
        f"| {len(paths) / proc:.2f} | **{t_seq / proc:.2f}x**; same text {same}/{len(paths)} | {wer(refs, got):.1f}% |"
    )


def vsr_throughput(args, paths: list[Path], tmp: Path) -> None:
    """Silent-video lip reading (phonemes: the VSR stage alone) with a randomly initialised
    ``small`` VSR model: no trained lip-reading weights ship in a registry package, and the
    time per clip does not depend on the weights' values."""
    import torch

    from avsr.core.store import save_checkpoint
    from avsr.recognizers.lip import LipReader
    from avsr.vsr.model import PRESETS, VSRModel

    torch.manual_seed(0)
    m = VSRModel(PRESETS["small"])
    ck = save_checkpoint(tmp / "vsr-small-random", m, "vsr", m.cfg.to_dict())
    reader = LipReader.from_pretrained(ck, phonemes_only=True)
    seq, t_seq, busy = _loop(reader.transcribe, paths, "phonemes")
    n = len(paths)
    print(f"\n1b. throughput, vsr mode (phonemes, `small` VSR model with random weights, beam 8): the same {n} clips")
    print(_bound(busy))
    print(
        "| run | wall s (incl. start-up, model loading) | processing s | clips/s | vs sequential |\n"
        "| --- | ---: | ---: | ---: | ---: |"
    )
    print(f"| sequential loop over `LipReader.transcribe` | | {t_seq:.1f} | {n / t_seq:.2f} | 1.00x |")
    _batch_rows(
        tmp, ["--mode", "vsr", "--vsr", str(ck), "--phonemes-only"], "phonemes", args.vsr_configs, seq, t_seq, None
    )


def _durations(paths: list[Path]) -> list[float]:
    from avsr.core.audio import read_audio

    return [len(read_audio(p)) / 16000 for p in paths]


def peak_memory(cmd: list[str]) -> tuple[dict[str, float], float]:
    """Peaks in MB of a command's process tree, sampled every 0.1 s, and the wall seconds.
    ``pss``: proportional set size summed over the processes at one moment, the tree's real
    footprint (a page shared by n processes counts 1/n in each, e.g. the shared libraries both
    map); ``rss``: resident sizes summed
    the same way (shared pages counted once per process, so an overstatement); ``main`` and
    ``worker``: RSS of each process alone."""
    import psutil

    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc = psutil.Process(p.pid)
    peak = {"pss": 0, "rss": 0, "main": 0, "worker": 0}
    while p.poll() is None:
        try:
            procs = [proc] + [c for c in proc.children(recursive=True) if c.is_running()]
            full = [q.memory_full_info() for q in procs]
            now = {
                "pss": sum(f.pss for f in full),
                "rss": sum(f.rss for f in full),
                "main": full[0].rss,
                "worker": max([0] + [f.rss for f in full[1:]]),
            }
            peak = {k: max(v, now[k]) for k, v in peak.items()}
        except psutil.Error:
            pass
        time.sleep(0.1)
    err = p.stderr.read().decode()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-2000:]}")
    return {k: v / 2**20 for k, v in peak.items()}, time.perf_counter() - t


def memory(args, tmp: Path) -> None:
    rows = []
    for m in args.long_minutes:
        f = long_input(tmp / f"long{m:g}min.mp4", m)
        out = tmp / f"long{m:g}.jsonl"
        mb, sec = peak_memory(
            [
                sys.executable,
                "-m",
                "avsr.cli",
                "transcribe",
                str(f),
                "--whisper",
                args.whisper,
                "-o",
                str(out),
                "-q",
                "-j",
                str(args.workers),
                "--batch-size",
                str(args.batch_size),
            ]
        )
        rec = json.loads(out.read_text().splitlines()[0])
        rows.append((m, mb, sec, len(rec["segments"]), len(rec["text"].split())))
    print(
        f"\n2. peak memory of `avsr transcribe` (main + {args.workers} worker), {args.whisper}, avsr mode; "
        "MB (ratio to the first row)"
    )
    print(
        "| input | segments | words | wall s | x realtime | peak PSS, all processes | peak RSS sum, all processes "
        "| main RSS | worker RSS |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    r0 = rows[0][1]
    for m, mb, sec, segs, words in rows:
        cells = " | ".join(f"{mb[k]:.0f} ({mb[k] / max(r0[k], 1):.2f}x)" for k in ("pss", "rss", "main", "worker"))
        print(f"| {m:g} min | {segs} | {words} | {sec:.0f} | {m * 60 / sec:.2f} | {cells} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--whisper", default="whisper-base")
    p.add_argument("--clips", type=int, default=28)
    p.add_argument(
        "--configs",
        nargs="*",
        default=[
            "-j 0 --batch-size 1 --engine torch",
            "-j 1 --batch-size 4 --engine torch",
            "-j 1 --batch-size 4 --engine torch --quantize int8",
            "-j 1 --batch-size 4 --engine ct2",
            "-j 1 --batch-size 4 --engine ct2 --compute-type int8",
            "-j 1 --batch-size 8 --engine ct2 --compute-type int8",
        ],
        help="option strings of the avsr batch runs to time",
    )
    p.add_argument(
        "--vsr-configs",
        nargs="*",
        default=["-j 0 --batch-size 8", "-j 1 --batch-size 8", "-j 2 --batch-size 8"],
        help="option strings of the vsr batch runs (none: skip the vsr section)",
    )
    p.add_argument(
        "--faster-whisper",
        nargs="*",
        default=["float32", "int8"],
        help="compute types of the faster-whisper rows (none: skip them)",
    )
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=2, help="FaceMesh threads per worker")
    p.add_argument("--long-minutes", type=float, nargs="*", default=[1, 10])
    p.add_argument("--skip", choices=["throughput", "memory"], nargs="*", default=[])
    args = p.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "throughput" not in args.skip:
            throughput(args, *clips(tmp, args.clips), tmp)
        if "memory" not in args.skip and args.long_minutes:
            memory(args, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
