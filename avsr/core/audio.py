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


class AudioDecoder:
    """Decoded audio frames (PyAV ``AudioFrame`` s) -> mono float32 samples at ``sample_rate``:
    resampled, and resampled on from any point where the stream changes its sample format, layout
    or rate. Samples are clipped to [-1, 1]; non-finite ones (NaN, +-Inf: invalid data, not
    loudness) become 0, or a float file with a few of them would turn every feature of its window
    into NaN. :func:`iter_audio` and a combined audio-and-video pass
    (:func:`avsr.core.video.iter_frames` with ``on_audio``) both decode through it."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        self.sample_rate = sample_rate
        self.decoded = False  # at least one frame came
        self._res, self._setup = None, None

    def feed(self, frame) -> list[np.ndarray]:
        import av

        self.decoded = True
        now = (frame.format.name, frame.layout.name, frame.sample_rate)
        out = []
        if now != self._setup:  # the stream changed its sample format, layout or rate mid-way
            out = self.flush()
            self._res = av.AudioResampler(format="flt", layout="mono", rate=self.sample_rate)
            self._setup = now
        return out + [_samples(o) for o in self._res.resample(frame)]

    def flush(self) -> list[np.ndarray]:
        """The samples the resampler still holds (at the end, or before a change of format)."""
        if self._res is None:
            return []
        out = [_samples(o) for o in self._res.resample(None)]
        self._res, self._setup = None, None
        return out


def _samples(frame) -> np.ndarray:
    x = frame.to_ndarray().reshape(-1).astype(np.float32)
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)  # NaN, Inf: invalid, 0


def blocks_of(chunks, block: int) -> Iterator[np.ndarray]:
    """Sample chunks of any sizes -> blocks of ``block`` samples (the last one shorter)."""
    pending: list[np.ndarray] = []
    have = 0
    for x in chunks:
        pending.append(x)
        have += len(x)
        while have >= block:
            cat = np.concatenate(pending)
            yield cat[:block]
            pending, have = [cat[block:]], have - block
    if have:
        yield np.concatenate(pending)


def iter_audio(
    path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, block: int = 4 * SAMPLE_RATE
) -> Iterator[np.ndarray]:
    """Mono float32 samples at ``sample_rate`` in blocks of ``block`` samples (the last one
    shorter), decoded as they are needed: memory stays flat however long the file. Yields
    nothing when the file has no audio stream; a stream that cannot be decoded at all raises
    MediaError, one that breaks part-way ends early (:class:`AudioDecoder` for the rest)."""
    import av

    with open_media(path) as c:
        if not c.streams.audio:
            return
        s = c.streams.audio[0]
        dec = AudioDecoder(sample_rate)

        def chunks():
            try:
                for fr in c.decode(s):
                    yield from dec.feed(fr)
            except (av.error.FFmpegError, OSError):  # type: ignore[attr-defined]
                if not dec.decoded:
                    raise MediaError(f"{path}: audio stream cannot be decoded") from None
            yield from dec.flush()

        yield from blocks_of(chunks(), block)


class AudioSpool:
    """Audio decoded ahead of its use, kept in an anonymous temporary file (deleted by the OS
    whatever happens) instead of memory: a combined audio-and-video pass writes it while the
    video is analysed, then :meth:`blocks` reads it back. ``add`` takes decoded PyAV frames."""

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        import tempfile

        self.decoder = AudioDecoder(sample_rate)
        self.samples = 0
        self.broken: str | None = None  # why decoding stopped part-way (the rest is lost)
        self._f = tempfile.TemporaryFile()

    def add(self, frame) -> None:
        self._write(self.decoder.feed(frame))

    def fail(self, why: str) -> None:
        """The stream broke: keep what was decoded (none at all: :meth:`blocks` raises)."""
        self.broken = self.broken or why

    def _write(self, chunks: list[np.ndarray]) -> None:
        for x in chunks:
            self._f.write(x.tobytes())
            self.samples += len(x)

    def blocks(self, block: int = 4 * SAMPLE_RATE) -> Iterator[np.ndarray]:
        """The samples in blocks of ``block`` (the last one shorter); MediaError when the stream
        could not be decoded at all."""
        self._write(self.decoder.flush())
        if self.broken and not self.decoder.decoded:
            raise MediaError(self.broken)
        self._f.seek(0)
        left = self.samples
        while left > 0:
            n = min(block, left)
            yield np.frombuffer(self._f.read(4 * n), np.float32).copy()
            left -= n

    def close(self) -> None:
        self._f.close()


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
