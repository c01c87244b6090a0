"""Composition only: the stages joined into recognisers.

``LipReader``: video -> ROI crops -> VSR phonemes (CTC) -> phoneme-to-text LLM -> text.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from avsr.io import FPS, VSR_SEGMENT_SECONDS, centre_mouth
from avsr.roi import RoiConfig, extract
from avsr.text import BOUNDARY, VOCAB
from avsr.vsr.decode import decode

if TYPE_CHECKING:
    from avsr.p2t.model import PhonemeToText


class MissingModelError(RuntimeError):
    """A recogniser was asked to run without a model it needs; the message says how to get it."""


VSR_MISSING = (
    "lip reading needs a trained VSR checkpoint (--vsr FOLDER). No pretrained LRS2/LRS3 lip-reading weights can be "
    "installed from the package registries, so train one: `avsr roi ... -o roi/` (or data_prep/lrs3.py), then "
    "`avsr train vsr configs/vsr/small.yaml data.train=roi/train/manifest.jsonl data.val=roi/test/manifest.jsonl`, "
    "and pass --vsr runs/vsr-small/final"
)
P2T_MISSING = (
    "turning phonemes into words needs a phoneme-to-text adapter (--p2t FOLDER): `python data_prep/corpus.py -o data/corpus` "
    "then `avsr train p2t configs/p2t/smollm2-135m.yaml`, and pass --p2t runs/p2t-smollm2/adapter; "
    "or use --phonemes-only"
)


@dataclass
class Transcript:
    source: str
    text: str | None  # None when only phonemes were asked for
    phonemes: list[str]
    frames: int
    face_ratio: float
    segments: list[tuple[float, float]] = field(default_factory=list)  # (start, end) seconds

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "text": self.text, "phonemes": " ".join(self.phonemes), "frames": self.frames,
                "face_ratio": round(self.face_ratio, 4), "segments": self.segments}


class LipReader:
    """Silent-video transcription with the two VALLR stages."""

    def __init__(self, vsr: torch.nn.Module, p2t: PhonemeToText | None = None, roi: RoiConfig | None = None, method: str = "beam", beam: int = 8):
        self.vsr, self.p2t, self.roi = vsr.eval(), p2t, roi or RoiConfig()
        self.method, self.beam = method, beam

    @classmethod
    def from_pretrained(cls, vsr: str | os.PathLike | None, p2t: str | os.PathLike | None = None, device: str = "cpu", phonemes_only: bool = False, **kw) -> "LipReader":
        import avsr
        from avsr.p2t.model import load_p2t

        if not vsr:
            raise MissingModelError(VSR_MISSING)
        if not p2t and not phonemes_only:
            raise MissingModelError(P2T_MISSING)
        model = avsr.load_model(vsr, device=device)
        return cls(model, load_p2t(p2t, device=device) if p2t else None, **kw)

    @torch.inference_mode()
    def phonemes(self, crops: np.ndarray) -> tuple[list[str], list[tuple[float, float]]]:
        """(T, 96, 96) uint8 crops -> phonemes; clips longer than VSR_SEGMENT_SECONDS are read in
        segments whose phonemes are joined with a word boundary."""
        crops = centre_mouth(crops)
        seg = VSR_SEGMENT_SECONDS * FPS
        device = next(self.vsr.parameters()).device
        out: list[str] = []
        spans = []
        for s in range(0, len(crops), seg):
            video = torch.from_numpy(np.ascontiguousarray(crops[s : s + seg]))[None].to(device)
            logits, n = self.vsr(video)
            ph = VOCAB.decode(decode(logits.log_softmax(-1), n, self.method, self.beam)[0])
            if out and ph and out[-1] != BOUNDARY and ph[0] != BOUNDARY:
                out.append(BOUNDARY)
            out += ph
            spans.append((s / FPS, min(len(crops), s + seg) / FPS))
        return out, spans

    def transcribe(self, video: str | os.PathLike) -> Transcript:
        clip = extract(video, self.roi, audio=False)
        ph, spans = self.phonemes(clip.crops)
        text = self.p2t([ph])[0] if self.p2t is not None else None
        return Transcript(str(video), text, ph, clip.frames, clip.face_ratio, spans)


@dataclass
class AVTranscript:
    source: str
    text: str
    mode: str  # "avsr" or "asr"
    adapter: str  # the set used ("none": plain frozen Whisper)
    visual: bool  # mouth crops entered the model
    noise: dict[str, Any] | None  # classifier output: category, snr, probs
    route: str  # why this adapter set: "router rule N", "router default", "--adapter", ...
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    face_ratio: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class AVRecognizer:
    """Audio or audio-visual speech -> text with the frozen Whisper and the adapter set that the
    noise classifier and router pick (or the one asked for). Video without a face, or audio
    without video, goes through the audio-only path."""

    def __init__(self, av, classifier=None, router=None, roi: RoiConfig | None = None, beams: int = 1):
        from avsr.av.router import RouterConfig

        self.av, self.classifier, self.router = av.eval(), classifier, router or RouterConfig()
        self.roi, self.beams = roi or RoiConfig(), beams

    @classmethod
    def from_pretrained(cls, whisper: str = "whisper-base", adapters: str | os.PathLike | None = None, classifier: str | os.PathLike | None = None,
                        router: str | os.PathLike | None = None, device: str = "cpu", **kw) -> "AVRecognizer":
        """``adapters``: a folder of adapter-set folders (every set in it is loaded)."""
        import avsr
        from avsr.av.model import AVWhisper, list_sets
        from avsr.av.router import RouterConfig
        from avsr.av.whisper import load_whisper
        from avsr.configs import load_yaml

        model, proc = load_whisper(whisper, device=device)
        av = AVWhisper(model, proc, whisper)
        if adapters:
            from avsr.av.model import ADAPTER_META

            found = [adapters] if os.path.isfile(os.path.join(adapters, ADAPTER_META)) else [os.path.join(adapters, n) for n, _ in list_sets(adapters)]
            if not found:
                raise MissingModelError(f"{adapters}: no adapter sets here (a set is a folder with {ADAPTER_META}; `avsr train av` writes them)")
            for folder in found:
                av.load_set(folder)
            av.activate(None)
        clf = avsr.load_model(classifier, device=device) if classifier else None
        rc = RouterConfig.from_dict(load_yaml(router).get("router", load_yaml(router))) if router else RouterConfig()
        return cls(av, clf, rc, **kw)

    def _choose(self, audio: np.ndarray, adapter: str | None, visual: bool) -> tuple[str, dict[str, Any] | None, str]:
        from avsr.av.router import NO_ADAPTER, route

        noise = self.classifier.predict(audio) if self.classifier is not None else None
        if adapter is not None:
            name, why = adapter, "--adapter"
        elif noise is None:
            name, why = self.router.default, "no noise classifier: router default"
        else:
            d = route(self.router, noise["category"], noise["snr"], self.av.sets)
            name = d.adapter
            why = f"router rule {d.rule}" if d.rule is not None else "router default"
            if d.skipped:
                why += f" (not installed: {', '.join(d.skipped)})"
        if name != NO_ADAPTER and not visual and self.av.meta.get(name, {}).get("modality") == "audio-visual":
            scenario = self.av.meta[name].get("scenario", name)
            alt = [n for n, m in self.av.meta.items() if m.get("scenario") == scenario and m.get("modality") == "audio"]
            why += f"; no video: {'audio-only set ' + alt[0] if alt else 'the audio-visual set without its fusion'}"
            name = alt[0] if alt else name
        return name, noise, why

    def transcribe(self, path: str | os.PathLike, mode: str = "avsr", adapter: str | None = None) -> AVTranscript:
        import time

        from avsr.io import MediaError, read_audio, streams
        from avsr.roi.extract import NoFaceError

        if mode not in ("avsr", "asr"):
            raise ValueError(f"mode must be 'avsr' or 'asr', got {mode!r}")
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        audio = read_audio(path)
        if audio is None or len(audio) == 0:
            raise MediaError(f"{path}: no audio track (silent video: use --mode vsr)")
        crops, face_ratio, note = None, None, ""
        if mode == "avsr":
            has_video, _ = streams(path)
            if not has_video:
                note = "no video stream: audio only"
            else:
                try:
                    clip = extract(path, self.roi, audio=False)
                    crops, face_ratio = centre_mouth(clip.crops), clip.face_ratio
                except NoFaceError:
                    note = "no face found: audio only"
            timings["roi"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        name, noise, why = self._choose(audio, adapter, crops is not None)
        timings["noise"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        self.av.activate(name)
        visual = crops is not None and name in self.av.fusions
        text = self.av.transcribe(audio, crops if visual else None, self.beams)
        timings["asr"] = time.perf_counter() - t2
        timings["total"] = time.perf_counter() - t0
        return AVTranscript(str(path), text, mode, name, visual, noise, why, round(len(audio) / 16000, 3),
                            {k: round(v, 3) for k, v in timings.items()}, face_ratio, note)
