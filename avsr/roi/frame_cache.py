"""The frames of the analysis pass, kept for the render pass (so a video is decoded once)."""

from __future__ import annotations

import numpy as np

GRAY_CACHE_MAX_BYTES = 2 << 30  # frames kept for the render pass at most (else it decodes again)


def kept_frame(gray_from: str, width: int, height: int) -> tuple[int, int, int]:
    """(width, height, channels) of the frames the render pass of grey crops needs from a
    ``width`` x ``height`` video: its luma plane, or (``gray_from="rgb"``) the RGB frame that
    :func:`avsr.roi.mean_face.peer_rgb` gives (3x the bytes; frames over FAST_CONVERT_MAX_SIDE
    are reduced to fit it)."""
    if gray_from != "rgb":
        return width, height, 1
    from avsr.core.video import FAST_CONVERT_MAX_SIDE

    k = FAST_CONVERT_MAX_SIDE / max(width, height)
    if k >= 1.0:
        return width, height, 3
    return max(2, round(width * k)), max(2, round(height * k)), 3


def gray_source(image, gray_from: str) -> tuple[np.ndarray, float]:
    """What grey crops are warped from, and its scale: a decoded frame's luma plane, or
    (``gray_from="rgb"``) its RGB as Auto-AVSR sees it; the same as :func:`kept_frame` keeps."""
    from avsr.core.video import to_gray
    from avsr.roi.mean_face import peer_rgb

    return peer_rgb(image) if gray_from == "rgb" else (to_gray(image), 1.0)


class GrayFrameCache:
    """Frames from the analysis pass, (H, W) grey or (H, W, ``channels``) RGB, in an anonymous
    temporary file (deleted by the OS whatever happens), read back by the render pass instead of
    decoding the video again. Memory stays flat: frames go to disk one at a time. ``scale``:
    the kept frames' pixels per source pixel."""

    def __init__(self, width: int, height: int, channels: int = 1, scale: float = 1.0):
        import tempfile

        self.shape = (height, width) if channels == 1 else (height, width, channels)
        self.scale = scale
        self.count = 0
        self.usable = True
        self._f = tempfile.TemporaryFile()

    def append(self, frame: np.ndarray) -> None:
        if frame.shape != self.shape:  # the stream changed size: the render pass decodes instead
            self.usable = False
        if self.usable:
            self._f.write(np.ascontiguousarray(frame, np.uint8).tobytes())
            self.count += 1

    def __iter__(self):
        return self.read(0, self.count)

    def read(self, first: int = 0, stop: int | None = None):
        """Frames ``first <= t < stop``, read back from the file."""
        n = int(np.prod(self.shape))
        stop = self.count if stop is None else min(stop, self.count)
        self._f.seek(first * n)
        for _ in range(max(0, stop - first)):
            yield np.frombuffer(self._f.read(n), np.uint8).reshape(self.shape)

    def close(self) -> None:
        self._f.close()
