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

import math
import os
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avsr.core.audio import AudioSpool, iter_audio
from avsr.core.errors import MediaError
from avsr.core.media import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, VIDEO_EXTENSIONS, MediaInfo, probe
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


def decide_mode(path: str, mode: str, info: MediaInfo | None = None) -> str:
    """``auto``: avsr for video with sound, vsr for silent video, asr for audio. ``info``: the
    file's :class:`~avsr.core.media.MediaInfo` when already probed (else it is probed)."""
    if mode != "auto":
        return mode
    info = info or probe(path)
    if not info.has_video and not info.has_audio:
        raise MediaError(f"{path}: no audio or video stream")
    return "vsr" if info.has_video and not info.has_audio else ("avsr" if info.has_video else "asr")


def digital_silence(audio: np.ndarray | None) -> bool:
    """Whether no sample of ``audio`` reaches the decoding policy's digital-silence peak (its
    :func:`~avsr.whisper.decoding.is_silent` test without the RMS one); None (no audio) is not."""
    from avsr.whisper.decoding import DecodingOptions, is_silent

    return is_silent(audio, DecodingOptions(silence_dbfs=None))


def silent_track_note(source: str, info: MediaInfo | None) -> str:
    """The note of an input whose whole audio track is digital silence (``--mode vsr`` suggested
    when it has video, or when it was not probed and is named like a video)."""
    video = info.has_video if info is not None else source.lower().endswith(VIDEO_EXTENSIONS)
    return "silent audio track (digital silence throughout)" + ("; for lip reading use --mode vsr" if video else "")


def frame_range(start: float, end: float) -> tuple[int, int]:
    """The 25 fps frames shown in [start, end) seconds: ``start <= k / 25 < end``."""
    return math.ceil(start * FPS - 1e-6), math.ceil(end * FPS - 1e-6)


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
    """Picklable recipe for the worker side: ``prep(i, id, source, extra, media)`` yields segments.

    Each input is looked at once (its :class:`~avsr.core.media.MediaInfo`, probed by the main
    process when it chose the recognisers, else here) and decoded in one pass: audio alone, or,
    when mouth crops are cut, audio and video together while the whole video is analysed (the
    speaker is chosen once per file); the crops of each segment are then rendered from the grey
    frames that pass kept, with no second decode."""

    mode: str = "auto"
    roi: RoiConfig | None = None  # crop settings (None: the defaults)
    rois: dict[str, RoiConfig] = field(default_factory=dict)  # "av"/"vsr" -> that recogniser's own crop settings
    segments: SegmentConfig = field(default_factory=SegmentConfig)
    montage_dir: str | None = None  # write ID.crops.png (mouth crops over time) here
    threads: int = 2  # FaceMesh threads per worker
    unavailable: dict[str, str] = field(default_factory=dict)  # "vsr"/"av" -> why inputs of that kind fail at once
    crops: bool = True  # avsr mode: cut mouth crops (False when no loaded set uses them; a montage still cuts them)

    def __call__(
        self, item: int, cid: str, source: str, extra: dict[str, Any] | None = None, media: MediaInfo | None = None
    ) -> Iterator[Segment]:
        base = dict(item=item, id=cid, source=source, extra=dict(extra or {}))
        t0 = time.perf_counter()
        index = 0
        try:
            needs_facts = self.mode in ("auto", "avsr", "vsr")
            info = media or (probe(source) if needs_facts else None)  # the one look at the file
            mode = decide_mode(source, self.mode, info)
            why = self.unavailable.get("vsr" if mode == "vsr" else "av")
            if why:
                yield Segment(**base, mode=mode, error=why)
                return
            gen = self._vsr(source, cid, info) if mode == "vsr" else self._audio(source, mode, cid, info)
            pending: Segment | None = None
            silent = mode != "vsr"  # every segment's audio digital silence so far
            for seg in gen:  # hold one back to know which is final
                if pending is not None:
                    pending.final = False
                    yield pending
                seg.__dict__.update(base, index=index, mode=seg.mode or mode, prep_seconds=time.perf_counter() - t0)
                silent = silent and digital_silence(seg.audio)
                index += 1
                pending = seg
                t0 = time.perf_counter()
            if pending is None:
                raise MediaError(f"{source}: nothing to transcribe (zero-length media)")
            if silent:  # said once, on the last segment (the record joins its segments' notes)
                pending.note = "; ".join(n for n in (pending.note, silent_track_note(source, info)) if n)
            yield pending
        except MediaError as e:
            yield Segment(**base, index=index, error=str(e), prep_seconds=time.perf_counter() - t0)
        except Exception as e:  # an unexpected failure is this input's, not the batch's
            seg = Segment(**base, index=index, error=f"{e.__class__.__name__}: {e}")
            seg.extra["traceback"] = traceback.format_exc(limit=6)
            yield seg

    def _audio(self, source: str, mode: str, cid: str, info: MediaInfo | None) -> Iterator[Segment]:
        if mode == "avsr" and info is not None and not info.has_video:  # avsr asked of a file with no video
            mode, note = "asr", "no video stream: audio only"
        else:
            note = ""
        cut = mode == "avsr" and (self.crops or self.montage_dir)
        if not cut:
            got = False
            for seg in audio_segments(iter_audio(source), self.segments, note):
                got = True
                seg.source, seg.mode = source, mode
                yield seg
            if not got:
                raise MediaError(f"{source}: no audio samples (a silent video needs --mode vsr)")
            return
        yield from self._audio_with_crops(source, cid, info or probe(source), note)

    def _audio_with_crops(self, source: str, cid: str, info: MediaInfo, note: str) -> Iterator[Segment]:
        """One pass decodes the audio (into a spool) and analyses the whole video; then the audio
        is cut into segments, each with the crops of its time range."""
        from avsr.roi.extract import NoFaceError, analyse

        spool = AudioSpool()
        try:
            a = None
            try:
                a = analyse(source, self.crop_settings("av"), self.threads, info=info.video(), audio=spool)
            except NoFaceError:
                note = "no face: audio only"
            got = False
            for seg in audio_segments(spool.blocks(), self.segments, note):
                got = True
                seg.source = source
                if a is not None:
                    self._cut(seg, source, cid, a, self.crop_settings("av"))
                yield seg
            if not got:
                raise MediaError(f"{source}: no audio samples (a silent video needs --mode vsr)")
        finally:
            spool.close()
            if a is not None:
                a.close()

    def crop_settings(self, kind: str) -> RoiConfig | None:
        """The crop settings of the recogniser of ``kind`` (``av`` or ``vsr``), else ``roi``."""
        return self.rois.get(kind, self.roi)

    def _cut(self, seg: Segment, source: str, cid: str, a, roi: RoiConfig | None) -> None:
        """The crops of ``seg``'s time range (none past the end of a video shorter than its sound)."""
        first, stop = frame_range(seg.start, seg.end)
        if first >= a.frames:
            seg.note = "video ended: audio only"
            return
        stop = min(stop, a.frames)
        crops = self._render(source, a, first, stop, roi)
        seg.crops, seg.face_ratio = centre_mouth(crops), round(float(a.face[first:stop].mean()), 4)
        if self.montage_dir and seg.montage is None and seg.start == 0.0:
            seg.montage = self._montage(crops, a, first, stop, cid)

    def _render(self, source: str, a, first: int, stop: int, roi: RoiConfig | None) -> np.ndarray:
        from avsr.roi.config import RoiConfig
        from avsr.roi.extract import render

        crops: list[np.ndarray] = []
        render(source, a, roi or RoiConfig(), crops.append, first, stop, keep=True)
        return np.stack(crops)

    def _vsr(self, source: str, cid: str, info: MediaInfo | None) -> Iterator[Segment]:
        """The whole video analysed once (one speaker for the file), then cut into segments of
        ``vsr_seconds`` (whole frames; the last takes what is left)."""
        from avsr.roi.extract import analyse

        video = (info or probe(source)).video()
        roi = self.crop_settings("vsr")
        a = analyse(source, roi, self.threads, info=video)
        try:
            step = max(1, round(self.segments.vsr_seconds * FPS))
            first = 0
            while first < a.frames:
                stop = first + step if first + step < a.frames - 1 else a.frames
                crops = self._render(source, a, first, stop, roi)
                seg = Segment(
                    item=-1,
                    id="",
                    source=source,
                    start=round(first / FPS, 3),
                    end=round(stop / FPS, 3),
                    crops=crops if roi is not None and roi.mode == "face" else centre_mouth(crops),  # faces: VALLR
                    face_ratio=round(float(a.face[first:stop].mean()), 4),
                )
                if self.montage_dir and first == 0:
                    seg.montage = self._montage(crops, a, first, stop, cid)
                yield seg
                first = stop
        finally:
            a.close()

    def _montage(self, crops: np.ndarray, a, first: int, stop: int, cid: str) -> str:
        from avsr.roi.qa import montage, sample_frames, write_png

        n = stop - first
        picks = sample_frames(n, MONTAGE_TILES)
        path = Path(self.montage_dir) / f"{cid}.crops.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(
            path,
            montage(
                {t: crops[t] for t in picks},
                a.landmarks[first:stop],
                a.face[first:stop],
                a.transforms[first:stop],
                f"{cid}: mouth crops, first {n / 25:.1f} s",
            ),
        )
        return os.fspath(path)
