"""Reading and writing audio: 16 kHz (``SAMPLE_RATE``) mono float32 in [-1, 1], decoded with PyAV
block by block so that memory stays flat however long the file."""

from __future__ import annotations

import os
import wave
from collections.abc import Iterator

import numpy as np

from avsr.core.errors import MediaError
from avsr.core.files import atomic_path
from avsr.core.media import SAMPLE_RATE, open_media


def iter_audio(
    path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, block: int = 4 * SAMPLE_RATE
) -> Iterator[np.ndarray]:
    """Mono float32 samples at ``sample_rate`` in blocks of ``block`` samples (the last one
    shorter), decoded as they are needed: memory stays flat however long the file. Yields
    nothing when the file has no audio stream; a stream that cannot be decoded at all raises
    MediaError, one that breaks part-way ends early, one that changes its sample format, layout or
    rate part-way is resampled on from the change. Samples are clipped to [-1, 1]; non-finite
    ones (NaN, +-Inf: invalid data, not loudness) become 0, or a float file with a few of them would
    turn every feature of its window into NaN."""
    import av

    with open_media(path) as c:
        if not c.streams.audio:
            return
        s = c.streams.audio[0]
        pending: list[np.ndarray] = []
        have = 0
        decoded = False

        def frames():
            nonlocal decoded
            res, setup = None, None
            try:
                for fr in c.decode(s):
                    decoded = True
                    now = (fr.format.name, fr.layout.name, fr.sample_rate)
                    if now != setup:  # the stream changed its sample format, layout or rate mid-way
                        if res is not None:
                            yield from res.resample(None)
                        res, setup = av.AudioResampler(format="flt", layout="mono", rate=sample_rate), now
                    yield from res.resample(fr)
            except (av.error.FFmpegError, OSError):  # type: ignore[attr-defined]
                if not decoded:
                    raise MediaError(f"{path}: audio stream cannot be decoded") from None
            if res is not None:
                yield from res.resample(None)

        for o in frames():
            x = o.to_ndarray().reshape(-1).astype(np.float32)
            x = np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)  # NaN, Inf: invalid, 0
            pending.append(x)
            have += len(x)
            while have >= block:
                cat = np.concatenate(pending)
                yield cat[:block]
                pending, have = [cat[block:]], have - block
        if have:
            yield np.concatenate(pending)


def read_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """Mono float32 samples at ``sample_rate``; None when the file has no audio stream (or
    no decodable sample)."""
    chunks = list(iter_audio(path, sample_rate, block=60 * sample_rate))
    return np.concatenate(chunks) if chunks else None


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """16-bit PCM mono WAV, written atomically."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
