"""The grey frames of the analysis pass, kept for the render pass (so a video is decoded once)."""

from __future__ import annotations

import numpy as np

GRAY_CACHE_MAX_BYTES = 2 << 30  # grey frames kept for the render pass at most (else it decodes again)


class GrayFrameCache:
    """Grey frames from the analysis pass in an anonymous temporary file (deleted by the OS
    whatever happens), read back by the render pass instead of decoding the video again.
    Memory stays flat: frames go to disk one at a time."""

    def __init__(self, width: int, height: int):
        import tempfile

        self.shape = (height, width)
        self.count = 0
        self.usable = True
        self._f = tempfile.TemporaryFile()

    def append(self, gray: np.ndarray) -> None:
        if gray.shape != self.shape:  # the stream changed size: the render pass decodes instead
            self.usable = False
        if self.usable:
            self._f.write(np.ascontiguousarray(gray, np.uint8).tobytes())
            self.count += 1

    def __iter__(self):
        return self.read(0, self.count)

    def read(self, first: int = 0, stop: int | None = None):
        """Frames ``first <= t < stop``, read back from the file."""
        n = self.shape[0] * self.shape[1]
        stop = self.count if stop is None else min(stop, self.count)
        self._f.seek(first * n)
        for _ in range(max(0, stop - first)):
            yield np.frombuffer(self._f.read(n), np.uint8).reshape(self.shape)

    def close(self) -> None:
        self._f.close()
