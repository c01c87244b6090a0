"""Voice activity for word timestamps: which 20 ms encoder frames of a window hold speech.

Whisper's alignment (:mod:`avsr.whisper.timestamps`) is a monotonic path from the window's first
frame to its last, so silence always belongs to some word: the first word of a window starts at
0.00 however late speech starts, and a word next to a pause swallows the pause. Where speech is
comes from Silero VAD (MIT): the ONNX model inside the PyPI package ``silero-vad`` (the file is
found without importing the package, whose ``__init__`` imports torch), run with onnxruntime on
32 ms chunks (512 samples at 16 kHz, each preceded by the previous 64 samples, the recurrent state
carried from chunk to chunk); it gives the probability that a chunk is speech. A stretch is
speech from a chunk at or above ``ONSET`` until a chunk below ``OFFSET`` (Silero's own hysteresis),
at least ``MIN_SPEECH`` long.

Why a model and not an energy threshold (docs/engines.md#word-timestamps, bench/word_onsets.py):
after silence both find the onset within 0.02 s, but with real noise under the speech (ambience,
music, impulsive noise at 5-20 dB SNR) an energy onset fires on the noise in 53 of 54 fixture
mixtures, Silero is within 0.1 s of the onset in 49. Cost: ~0.1 s per 30 s window on one thread.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from avsr.core.errors import MissingModelError
from avsr.core.media import SAMPLE_RATE
from avsr.whisper.mel_numpy import HOP

CHUNK = 512  # samples Silero judges at a time (32 ms at 16 kHz)
CONTEXT = 64  # samples of the previous chunk given with each chunk
ONSET, OFFSET = 0.5, 0.35  # speech starts at a chunk with p >= ONSET and ends at one with p < OFFSET
MIN_SPEECH = 0.25  # seconds: shorter stretches of "speech" are noise bursts (Silero's own default)
MODEL_FILE = "silero_vad.onnx"
ENCODER_HOP = 2 * HOP  # samples per Whisper encoder frame (20 ms: two log-mel frames), the alignment's unit


def model_path() -> Path:
    """The Silero ONNX file shipped in the ``silero-vad`` package (not imported: it imports torch)."""
    spec = importlib.util.find_spec("silero_vad")
    path = Path(next(iter(spec.submodule_search_locations or []), "")) / "data" / MODEL_FILE if spec else None
    if path is None or not path.is_file():
        raise MissingModelError("word timestamps need Silero VAD: pip install silero-vad (a dependency of avsr)")
    return path


def _onnxruntime():
    """onnxruntime, imported with TMPDIR pointed at avsr's cache: its import leaves a session-id
    file (``.ses``) in the temporary folder, which a run must leave as the user had it."""
    import os
    import sys

    if "onnxruntime" in sys.modules:
        return sys.modules["onnxruntime"]
    from avsr.core.registry import cache_dir

    old = os.environ.get("TMPDIR")
    try:
        folder = cache_dir() / "onnxruntime"
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["TMPDIR"] = str(folder)
    except OSError:  # an unwritable cache: the temporary folder it is
        pass
    try:
        import onnxruntime
    finally:
        if old is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old
    return onnxruntime


@functools.cache
def _session():
    onnxruntime = _onnxruntime()
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # one chunk at a time: threads only cost
    return onnxruntime.InferenceSession(str(model_path()), opts, providers=["CPUExecutionProvider"])


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """(ceil(len / CHUNK),) probability that each 32 ms chunk of 16 kHz ``audio`` is speech
    (the last chunk zero-padded)."""
    session = _session()
    n = -(-len(audio) // CHUNK)
    x = np.zeros(CONTEXT + n * CHUNK, np.float32)
    x[CONTEXT : CONTEXT + len(audio)] = audio
    state = np.zeros((2, 1, 128), np.float32)
    rate = np.array(SAMPLE_RATE, dtype=np.int64)
    out = np.empty(n, np.float32)
    for i in range(n):
        p, state = session.run(
            None, {"input": x[None, i * CHUNK : (i + 1) * CHUNK + CONTEXT], "state": state, "sr": rate}
        )
        out[i] = p[0, 0]
    return out


def speech_chunks(probs: np.ndarray, onset: float = ONSET, offset: float = OFFSET) -> np.ndarray:
    """Chunk probabilities -> bool per chunk: speech from a chunk >= ``onset`` to the next <
    ``offset``, stretches shorter than MIN_SPEECH dropped."""
    out = np.zeros(len(probs), bool)
    on = False
    for i, p in enumerate(probs):
        on = p >= onset if not on else p >= offset
        out[i] = on
    edges = np.flatnonzero(np.diff(np.concatenate([[0], out.astype(np.int8), [0]])))
    for a, b in zip(edges[::2], edges[1::2]):
        if (b - a) * CHUNK < MIN_SPEECH * SAMPLE_RATE:
            out[a:b] = False
    return out


def speech_frames(audio: np.ndarray) -> np.ndarray:
    """(ceil(len / 320),) bool: whether each 20 ms Whisper encoder frame of ``audio`` (16 kHz) is
    speech (the chunk holding the frame's centre is)."""
    chunks = speech_chunks(speech_probabilities(audio))
    frames = -(-len(audio) // ENCODER_HOP)
    if not len(chunks):
        return np.zeros(frames, bool)
    centre = (np.arange(frames) * ENCODER_HOP + ENCODER_HOP // 2) // CHUNK
    return chunks[np.minimum(centre, len(chunks) - 1)]
