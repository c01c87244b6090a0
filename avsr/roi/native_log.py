"""Keep mediapipe's native start-up chatter (TFLite / absl / glog lines printed straight to file
descriptor 2) off the user's terminal, while passing through anything else it prints."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

NOISE = re.compile(
    rb"^(INFO: Created TensorFlow Lite XNNPACK delegate|WARNING: All log messages before absl::InitializeLog"
    rb"|[WI]0000 .*(inference_feedback_manager|landmark_projection_calculator|gl_context|face_landmarker_graph))"
)
_lock = threading.Lock()
_depth = 0
_saved: tuple[int, object] | None = None


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Redirect fd 2 to a temporary file for the duration (re-entrant, thread-safe); on exit,
    lines that are not known noise are written to the real stderr."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                tmp = tempfile.TemporaryFile()
                _saved = (os.dup(2), tmp)
                os.dup2(tmp.fileno(), 2)
            except OSError:  # no usable fd 2 (embedded interpreters): leave stderr alone
                _saved = None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                fd, tmp = _saved
                _saved = None
                os.dup2(fd, 2)
                os.close(fd)
                tmp.seek(0)
                keep = [ln for ln in tmp.read().splitlines(keepends=True) if not NOISE.match(ln)]
                tmp.close()
                if keep:
                    os.write(2, b"".join(keep))
