"""Writing a clip's ROI outputs: the stage's on-disk contract, read by every later stage.

For a clip id ``ID`` under ``OUT``:

- ``OUT/ID.roi.mkv``: crops, lossless FFV1 at 25 fps, grey (or RGB with ``color``), uint8;
  read with :func:`avsr.core.video.read_crops` -> (T, S, S) or (T, S, S, 3).
- ``OUT/ID.landmarks.npz``: ``landmarks`` (T, 468, 2) float32 source pixels, NaN where no face
  was measured; ``face`` (T,) bool; ``measured`` (T,) bool; ``transforms`` (T, 2, 3) float32
  source pixels -> crop pixels; ``fps``; ``size`` (source width, height); ``config`` (JSON).
- ``OUT/ID.wav``: 16 kHz mono PCM, only when the source has an audio track.
- ``OUT/ID.qa.png``: montage of crops over time with the landmarks drawn.

Every file is written under a temporary name and renamed when complete; the manifest line is
written last, so a line in a manifest always points to complete files.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from avsr.core.audio import AudioSpool, write_wav
from avsr.core.files import atomic_path
from avsr.core.media import FPS, SAMPLE_RATE, probe_video
from avsr.core.video import CropWriter
from avsr.roi.config import RoiConfig
from avsr.roi.extract import Analysis, analyse, render
from avsr.roi.qa import montage, sample_frames, write_png

log = logging.getLogger(__name__)
SUFFIXES = {"roi": ".roi.mkv", "landmarks": ".landmarks.npz", "audio": ".wav", "qa": ".qa.png"}


def output_paths(out_dir: str | os.PathLike, clip_id: str) -> dict[str, Path]:
    base = Path(out_dir) / clip_id
    return {k: base.parent / (base.name + s) for k, s in SUFFIXES.items()}


def save_landmarks(path: Path, a: Analysis, cfg: RoiConfig) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            landmarks=a.landmarks.astype(np.float32),
            face=a.face,
            measured=a.measured,
            transforms=a.transforms.astype(np.float32),
            fps=np.int32(FPS),
            size=np.array([a.width, a.height], np.int32),
            config=np.array(json.dumps(cfg.to_dict())),
        )


def load_landmarks(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``.landmarks.npz`` (no pickled objects are allowed)."""
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    d["config"] = json.loads(str(d["config"]))
    return d


def extract_to(
    path: str | os.PathLike, out_dir: str | os.PathLike, clip_id: str, cfg: RoiConfig | None = None, workers: int = 2
) -> dict[str, Any]:
    """Process one video and write its outputs; returns its manifest record (paths relative to
    ``out_dir``). Crops stream to disk, so memory does not grow with the clip's length. The file
    is looked at once and decoded once: its audio is decoded in the analysis pass, and the crops
    are rendered from the grey frames that pass kept."""
    cfg = cfg or RoiConfig()
    path = str(path)
    paths = output_paths(out_dir, clip_id)
    info = probe_video(path)
    spool = AudioSpool() if info.has_audio else None
    try:
        return _extract_to(path, out_dir, clip_id, cfg, workers, paths, info, spool)
    finally:
        if spool is not None:
            spool.close()


def _extract_to(path, out_dir, clip_id, cfg, workers, paths, info, spool) -> dict[str, Any]:
    a = analyse(path, cfg, workers=workers, info=info, audio=spool)
    keep = set(sample_frames(a.frames, cfg.qa_frames))
    shown: dict[int, np.ndarray] = {}
    with CropWriter(paths["roi"], cfg.out_size, cfg.color) as w:

        def sink(crop: np.ndarray) -> None:
            if w.frames in keep:
                shown[w.frames] = crop
            w.write(crop)

        render(path, a, cfg, sink)
    save_landmarks(paths["landmarks"], a, cfg)
    chunks = list(spool.blocks(60 * SAMPLE_RATE)) if spool is not None else []
    audio = np.concatenate(chunks) if chunks else None
    warnings = list(a.warnings)
    if audio is not None:
        write_wav(paths["audio"], audio)
        if not audio.size or float(np.abs(audio).max()) * 32767.0 < 0.5:  # every 16-bit sample written is 0
            warnings.append(
                f"audio track is digital silence: all {len(audio)} samples of {paths['audio'].name} are zero"
            )
            log.warning("%s: %s", clip_id, warnings[-1])
    elif paths["audio"].exists():
        paths["audio"].unlink()  # left by an earlier run on a different file of the same id
    title = f"{clip_id}  frames={a.frames}  face={a.face_ratio:.0%}  faces seen={a.n_faces}"
    write_png(paths["qa"], montage(shown, a.landmarks, a.face, a.transforms, title))
    rel = lambda p: p.relative_to(out_dir).as_posix()  # noqa: E731
    return {
        "id": clip_id,
        "source": os.path.abspath(path),
        "roi": rel(paths["roi"]),
        "landmarks": rel(paths["landmarks"]),
        "audio": rel(paths["audio"]) if audio is not None else None,
        "qa": rel(paths["qa"]),
        "frames": a.frames,
        "fps": FPS,
        "face_ratio": round(a.face_ratio, 4),
        "n_faces": a.n_faces,
        "audio_samples": int(len(audio)) if audio is not None else 0,
        "warnings": warnings,
    }
