"""The mutation check on demand: N seeded mutants of the real fixtures (default 1,000) through
`avsr transcribe` and `avsr roi -j 2`, with the invariants of tests/mutations.py.

    python bench/mutations.py [--n 1000] [--seed S] [--timeout 60] [--whisper whisper-tiny.en]

Prints the seed, the mutants per kind, each command's time and exit code, and every invariant
violation (none expected); exit code 1 when there is one. CI runs the same on about 100 mutants
(tests/test_mutations.py).
"""

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mutations import VIDEOS, check, cli, lines, make, originals, run  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=int(time.time_ns() % 2**31))
    p.add_argument("--timeout", type=float, default=60.0, help="per-input time limit given to both commands")
    p.add_argument("--whisper", default="whisper-tiny.en")
    p.add_argument("--keep", help="keep the mutants and outputs in this folder")
    args = p.parse_args()
    from avsr.core.media import VIDEO_EXTENSIONS

    work = Path(args.keep or tempfile.mkdtemp(prefix="avsr-mutations-"))
    print(f"seed {args.seed}, {args.n} mutants, --timeout {args.timeout:g}: {work}")
    t = time.perf_counter()
    mutants = make(args.seed, args.n, work / "in")
    origs = originals(work / "in")
    originals(work / "alone")
    kinds = collections.Counter(m.kind for m in mutants)
    print(f"made in {time.perf_counter() - t:.0f} s: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    violations = []

    base = ["--whisper", args.whisper, "--timeout", f"{args.timeout:g}", "-q"]
    run(cli("transcribe", str(work / "alone"), "-o", str(work / "alone.jsonl"), *base), work / "tmp0", 3600)
    reference = {r["id"]: r for r in lines(work / "alone.jsonl")}
    t = time.perf_counter()
    proc = run(
        cli("transcribe", str(work / "in"), "-o", str(work / "out.jsonl"), "-j", "1", *base), work / "tmp1", 36000
    )
    recs = lines(work / "out.jsonl")
    expected = {m.path.stem for m in mutants} | {o.stem for o in origs}
    bad = check(proc, recs, expected, work, work / "tmp1", reference)
    errors = sum("error" in r for r in recs)
    print(
        f"avsr transcribe: {time.perf_counter() - t:.0f} s, exit {proc.returncode}, {len(recs)} lines "
        f"({len(recs) - errors} results, {errors} errors), {len(bad)} violations"
    )
    violations += bad

    videos = work / "videos"
    videos.mkdir(exist_ok=True)
    for m in [x.path for x in mutants] + origs:
        if m.suffix.lower() in VIDEO_EXTENSIONS:
            if m.is_fifo():
                import os

                os.mkfifo(videos / m.name)
            else:
                shutil.copy(m, videos / m.name)
    t = time.perf_counter()
    roi_cmd = cli("roi", str(videos), "-o", str(work / "roi"), "-j", "2", "--timeout", f"{args.timeout:g}")
    proc = run(roi_cmd, work / "tmp2", 36000)
    recs = lines(work / "roi" / "manifest.jsonl") + lines(work / "roi" / "errors.jsonl")
    bad = check(proc, recs, {v.stem for v in videos.iterdir()}, work / "roi", work / "tmp2", None, key="roi")
    run(cli("roi", *map(str, VIDEOS), "-o", str(work / "roi-alone")), work / "tmp3", 3600)
    mine = {r["id"]: r for r in recs}
    for r in lines(work / "roi-alone" / "manifest.jsonl"):
        got = mine.get(f"orig_{r['id']}", {})
        if (got.get("frames"), got.get("face_ratio")) != (r.get("frames"), r.get("face_ratio")):
            bad.append(f"orig_{r['id']}: untouched clip changed by the batch around it")
    errors = sum("error" in r for r in recs)
    print(
        f"avsr roi -j 2: {time.perf_counter() - t:.0f} s, exit {proc.returncode}, {len(recs)} lines "
        f"({len(recs) - errors} clips, {errors} errors), {len(bad)} violations"
    )
    violations += bad
    for v in violations:
        print("VIOLATION:", v)
    print(f"{len(violations)} invariant violations (seed {args.seed})")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
