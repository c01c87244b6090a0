"""The input side of transcription: one media file -> a stream of prepared segments.

This runs in worker processes (picklable, no model in it): decoding, mouth-crop extraction
and segmentation, so that the models in the main process never wait for I/O. A file is read
one segment at a time, so memory does not grow with its length:

- with audio: the audio is streamed and cut into segments of at most ``max_seconds`` (Whisper's
  30 s window), each cut placed at the quietest 20 ms within the last ``search_seconds`` of the
  window so that words are not split; for ``avsr`` the mouth crops of exactly that time range
  are extracted (seeking into the video);
- silent video (``vsr``): fixed segments of ``VSR_SEGMENT_SECONDS``.

A segment that fails to prepare ends its input with an error segment; the batch goes on.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avsr.core.audio import iter_audio
from avsr.core.errors import MediaError
from avsr.core.media import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, probe_video, streams
from avsr.core.segments import SegmentConfig, split_audio
from avsr.core.video import centre_mouth

if TYPE_CHECKING:
    from avsr.roi.config import RoiConfig

MODES = ("auto", "avsr", "asr", "vsr")
MONTAGE_TILES = 16


@dataclass
class Segment:
    """One prepared piece of one input. ``final`` marks the input's last segment; an input that
    failed has a single segment with ``error`` set."""

    item: int  # position of the input in the run
    id: str
    source: str
    index: int = 0
    final: bool = True
    mode: str = ""
    start: float = 0.0  # seconds
    end: float = 0.0
    audio: np.ndarray | None = None  # 16 kHz mono float32
    crops: np.ndarray | None = None  # (T, 88, 88) uint8 at 25 fps, T = (end - start) * 25
    face_ratio: float | None = None
    note: str = ""
    error: str | None = None
    prep_seconds: float = 0.0
    montage: str | None = None  # crop montage written for this input (first segment)
    extra: dict[str, Any] = field(default_factory=dict)  # the input's extra fields (e.g. a manifest's text)


def decide_mode(path: str, mode: str, facts: tuple[bool, bool] | None = None) -> str:
    """``auto``: avsr for video with sound, vsr for silent video, asr for audio. ``facts``: the
    file's (has video, has audio) when already read (:func:`~avsr.core.media.streams`)."""
    if mode != "auto":
        return mode
    video, audio = facts or streams(path)
    if not video and not audio:
        raise MediaError(f"{path}: no audio or video stream")
    return "vsr" if video and not audio else ("avsr" if video else "asr")


def audio_segments(blocks: Iterable[np.ndarray], cfg: SegmentConfig, note: str = "") -> Iterator[Segment]:
    """16 kHz audio blocks -> segments of at most one Whisper window, cut at the quietest moment
    of each window's end (:func:`~avsr.core.segments.split_audio`); times in seconds."""
    for start, audio in split_audio(blocks, cfg):
        s, e = start / SAMPLE_RATE, (start + len(audio)) / SAMPLE_RATE
        yield Segment(item=-1, id="", source="", start=round(s, 3), end=round(e, 3), audio=audio, note=note)


def clip_segments(
    item: int, audio: np.ndarray, crops: np.ndarray | None = None, cfg: SegmentConfig | None = None
) -> list[Segment]:
    """The segments ``avsr transcribe`` makes of one clip already in memory (audio, and its
    (T, 88, 88) mouth crops at 25 fps or None), for the evaluation: the same cuts, each segment
    with the crops of its time range."""
    out = []
    for seg in audio_segments([np.asarray(audio, np.float32)], cfg or SegmentConfig()):
        seg.item = item
        if crops is not None:
            first = round(seg.start * FPS)
            cs = crops[first : first + -(-len(seg.audio) // SAMPLES_PER_FRAME)]
            seg.crops = np.ascontiguousarray(cs) if len(cs) else None
        out.append(seg)
    return out


@dataclass(frozen=True)
class Preparer:
    """Picklable recipe for the worker side: ``prep(i, id, source, extra)`` yields segments."""

    mode: str = "auto"
    roi: RoiConfig | None = None  # crop settings (None: the defaults)
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    montage_dir: str | None = None  # write ID.crops.png (mouth crops over time) here
    threads: int = 2  # FaceMesh threads per worker
    unavailable: dict[str, str] = field(default_factory=dict)  # "vsr"/"av" -> why inputs of that kind fail at once
    crops: bool = True  # avsr mode: cut mouth crops (False when no loaded set uses them; a montage still cuts them)

    def __call__(self, item: int, cid: str, source: str, extra: dict[str, Any] | None = None) -> Iterator[Segment]:
        base = dict(item=item, id=cid, source=source, extra=dict(extra or {}))
        t0 = time.perf_counter()
        index = 0
        try:
            facts = streams(source) if self.mode in ("auto", "avsr") else None  # the container's streams, read once
            mode = decide_mode(source, self.mode, facts)
            why = self.unavailable.get("vsr" if mode == "vsr" else "av")
            if why:
                yield Segment(**base, mode=mode, error=why)
                return
            gen = self._vsr(source, cid) if mode == "vsr" else self._audio(source, mode, cid, facts)
            pending: Segment | None = None
            for seg in gen:  # hold one back to know which is final
                if pending is not None:
                    pending.final = False
                    yield pending
                seg.__dict__.update(base, index=index, mode=mode, prep_seconds=time.perf_counter() - t0)
                index += 1
                pending = seg
                t0 = time.perf_counter()
            if pending is None:
                raise MediaError(f"{source}: nothing to transcribe (zero-length media)")
            yield pending
        except MediaError as e:
            yield Segment(**base, index=index, error=str(e), prep_seconds=time.perf_counter() - t0)
        except Exception as e:  # an unexpected failure is this input's, not the batch's
            seg = Segment(**base, index=index, error=f"{e.__class__.__name__}: {e}")
            seg.extra["traceback"] = traceback.format_exc(limit=6)
            yield seg

    def _audio(self, source: str, mode: str, cid: str, facts: tuple[bool, bool] | None) -> Iterator[Segment]:
        if mode == "avsr" and facts is not None and not facts[0]:  # auto chose avsr because there is video
            mode, note = "asr", "no video stream: audio only"
        else:
            note = ""
        got = False
        for seg in audio_segments(iter_audio(source), self.segments, note):
            got = True
            seg.source = source
            if mode == "avsr" and (self.crops or self.montage_dir):
                self._crops(seg, source, cid)
            yield seg
        if not got:
            raise MediaError(f"{source}: no audio samples (a silent video needs --mode vsr)")

    def _crops(self, seg: Segment, source: str, cid: str) -> None:
        from avsr.roi.extract import NoFaceError, extract

        try:
            clip = extract(source, self.roi, audio=False, start=seg.start, end=seg.end, workers=self.threads)
        except NoFaceError:
            seg.note = "no face: audio only"
            return
        except MediaError as e:
            if "at or after" not in str(e):  # beyond the end of a shorter video: audio only
                raise
            seg.note = "video ended: audio only"
            return
        seg.crops, seg.face_ratio = centre_mouth(clip.crops), round(clip.face_ratio, 4)
        if self.montage_dir and seg.montage is None and seg.start == 0.0:
            seg.montage = self._montage(clip, cid)

    def _vsr(self, source: str, cid: str) -> Iterator[Segment]:
        from avsr.roi.extract import extract

        info = probe_video(source)
        step = max(1, round(self.segments.vsr_seconds * FPS)) / FPS  # whole frames
        s = 0.0
        while True:
            end = s + step if not info.duration or s + step < info.duration - 1.0 / FPS else None
            try:
                clip = extract(source, self.roi, audio=False, start=s, end=end, workers=self.threads)
            except MediaError as e:
                if s > 0 and "at or after" in str(e):
                    return
                raise
            seg = Segment(
                item=-1,
                id="",
                source=source,
                start=round(s, 3),
                end=round(s + clip.frames / FPS, 3),
                crops=centre_mouth(clip.crops),
                face_ratio=round(clip.face_ratio, 4),
            )
            if self.montage_dir and s == 0.0:
                seg.montage = self._montage(clip, cid)
            yield seg
            if end is None or clip.frames < round(step * FPS):
                return
            s = end

    def _montage(self, clip, cid: str) -> str:
        from avsr.roi.qa import montage, sample_frames, write_png

        picks = sample_frames(clip.frames, MONTAGE_TILES)
        name = cid
        path = Path(self.montage_dir) / f"{cid}.crops.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(
            path,
            montage(
                {t: clip.crops[t] for t in picks},
                clip.landmarks,
                clip.face,
                clip.transforms,
                f"{name}: mouth crops, first {clip.frames / 25:.1f} s",
            ),
        )
        return os.fspath(path)
