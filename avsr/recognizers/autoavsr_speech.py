"""``AutoAVSRSpeech``: audio (+ mouth crops) -> the published Auto-AVSR audio-only or audio-visual
model -> text (kind ``av``: what ``avsr transcribe --asr/--avsr`` runs instead of Whisper).

- ``--avsr`` (audio-visual): each segment's audio, cut or zero-padded to its crops' frames x 640
  samples and standardised, with its mouth crops (the Auto-AVSR crop recipe, :func:`peer_roi`);
- a segment without crops (no face, no video, the video ended) falls back, and says so in its
  ``by`` field: to the audio model when ``--asr`` is given, else to Whisper (the frozen model,
  its adapter sets and noise head as without ``--avsr``);
- ``--asr`` alone: every segment through the audio model.

>>> import avsr
>>> rec = avsr.load_recognizer(avsr="avsr_trlrwlrs2lrs3vox2avsp_base.pth", tokens="unigram5000_units.txt")
>>> rec.transcribe("talk.mp4").text
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import torch

from avsr.core.errors import UsageError
from avsr.core.padding import pad
from avsr.core.video import centre_mouth
from avsr.recognizers.autoavsr import Decoding, load_decoding, model_names, peer_roi
from avsr.recognizers.protocol import transcribe_file
from avsr.recognizers.record import Result
from avsr.vsr.autoavsr import AutoAVSR, fit_audio, normalise, standardise
from avsr.vsr.resnet import AUDIO_HOP

if TYPE_CHECKING:
    from avsr.recognizers.options import ModelOptions
    from avsr.recognizers.prepare import Segment

WHISPER_KEYS = ("text", "timings", "decoding", "words")  # what a Whisper fallback segment keeps
SYSTEM = "auto-avsr"  # its one "set" in an evaluation (it has no adapter sets)


class AutoAVSRSpeech:
    """The Auto-AVSR audio (``asr``) and/or audio-visual (``avsr``) model behind the recogniser
    protocol; ``fallback``: the recogniser for segments neither model can take (Whisper)."""

    kind, modes = "av", ("avsr", "asr")
    classifier = None  # no noise head: one model per input kind

    def __init__(
        self,
        decoding: Decoding,
        asr: AutoAVSR | None = None,
        avsr: AutoAVSR | None = None,
        fallback=None,
        names: dict[str, str] | None = None,
        batch_size: int = 8,
    ):
        if asr is None and avsr is None:
            raise UsageError("AutoAVSRSpeech needs an audio (--asr) or audio-visual (--avsr) model")
        for m, kind in ((asr, "asr"), (avsr, "avsr")):
            if m is not None:
                decoding.check(m)
                if m.cfg.kind != kind:
                    raise UsageError(f"the {kind} model given is a {m.cfg.kind} model")
        self.decoding, self.asr, self.avsr, self.fallback = decoding, asr, avsr, fallback
        self.roi = peer_roi() if avsr is not None else None
        self.names, self.batch_size = names or {}, batch_size

    @classmethod
    def from_options(cls, opts: ModelOptions, fallback=None) -> AutoAVSRSpeech:
        """``opts.asr`` and/or ``opts.avsr`` (weights only, strict, checked to be of that kind), the
        units file, the LM; ``fallback``: the Whisper recogniser for segments without crops when
        there is no ``asr`` (:func:`~avsr.recognizers.load.load_av` makes it)."""
        from avsr.vsr.autoavsr_files import load_published

        decoding, names = load_decoding(opts, opts.device)
        models: dict[str, AutoAVSR] = {}
        for kind in ("asr", "avsr"):
            path = getattr(opts, kind)
            if path:
                models[kind], info = load_published(path, kind, device=opts.device)
                names |= model_names(kind, info)
        if "asr" in models:
            fallback = None
        elif fallback is not None:
            names |= {f"fallback {k}": v for k, v in fallback.names.items()}
        return cls(decoding, models.get("asr"), models.get("avsr"), fallback, names, opts.batch_size)

    @property
    def needs_crops(self) -> bool:
        return self.avsr is not None

    def route(self, seg: Segment) -> str:
        """Which model decodes ``seg``: ``avsr``, ``asr`` or ``whisper``."""
        if self.avsr is not None and seg.crops is not None and len(seg.crops) > 0:
            return "avsr"
        return "asr" if self.asr is not None else "whisper"

    @torch.inference_mode()
    def _run(self, model: AutoAVSR, segs: list[Segment]) -> list[dict[str, Any]]:
        device = next(model.parameters()).device
        if model.cfg.kind == "asr":
            waves = [standardise(s.audio) for s in segs]
            short = [len(w) < AUDIO_HOP for w in waves]
            keep = [w for w, s in zip(waves, short) if not s]
            out = iter(self.decoding(model, *model.encode(audio=keep)) if keep else [])
            return [{"text": "", "tokens": [], "score": None} if s else next(out) for s in short]
        video, lengths = pad([normalise(centre_mouth(s.crops)) for s in segs])
        audio = [standardise(fit_audio(s.audio, len(s.crops))) for s in segs]
        enc, lengths = model.encode(video.to(device), lengths.to(device), audio)
        return self.decoding(model, enc, lengths)

    def decode(self, segments: list[Segment], adapter: str | None = None) -> list[dict[str, Any]]:
        """Prepared segments -> per segment ``text``, ``by`` (the model that read it) and timings;
        the segments each model takes go through it in one batch. ``adapter``: None or
        ``auto-avsr`` (what an evaluation names this system)."""
        if adapter not in (None, SYSTEM):
            raise UsageError(f"adapter {adapter!r}: the Auto-AVSR models have no adapter sets")
        routes = [self.route(s) for s in segments]
        out: list[dict[str, Any] | None] = [None] * len(segments)
        for by in dict.fromkeys(routes):
            idx = [i for i, r in enumerate(routes) if r == by]
            segs = [segments[i] for i in idx]
            for b in range(0, len(segs), self.batch_size):
                self._decode(by, segs[b : b + self.batch_size], idx[b : b + self.batch_size], out)
        return out

    def _decode(self, by: str, segs: list[Segment], idx: list[int], out: list) -> None:
        """One batch of the segments model ``by`` reads, written into ``out`` at ``idx``."""
        t0 = time.perf_counter()
        if by == "whisper":
            res = [{k: r[k] for k in WHISPER_KEYS if k in r} for r in self.fallback.decode(segs)]
        else:
            res = [{"text": r["text"]} for r in self._run(getattr(self, by), segs)]
            share = {"decode": (time.perf_counter() - t0) / len(segs)}
            for r in res:
                r["timings"] = share
        for i, r in zip(idx, res):
            out[i] = r | {"by": by}

    def modules(self) -> dict[str, torch.nn.Module]:
        out = {k: m for k, m in (("asr", self.asr), ("avsr", self.avsr)) if m is not None}
        if self.decoding.lm is not None:
            out["lm"] = self.decoding.lm
        if self.fallback is not None:
            out |= {f"fallback_{k}": m for k, m in self.fallback.modules().items()}
        return out

    def transcribe(self, path: str | os.PathLike, mode: str = "auto") -> Result:
        """One file -> its result record (``mode`` auto: avsr for video with sound, asr for audio)."""
        if mode not in ("auto", *self.modes):
            raise UsageError(f"mode must be 'auto', 'avsr' or 'asr', got {mode!r}")
        return transcribe_file(self, path, mode)
