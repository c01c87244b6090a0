"""``AVRecognizer``: audio (+ mouth crops) -> noise classifier + router -> frozen Whisper with the
chosen adapter set -> text."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from avsr.adapters.bank import AdapterBank
from avsr.adapters.sets import NO_ADAPTER
from avsr.core.errors import UsageError
from avsr.core.padding import pad, pad_array
from avsr.recognizers.options import ModelOptions
from avsr.recognizers.protocol import transcribe_file
from avsr.recognizers.record import Result
from avsr.whisper.decoding import DecodingOptions, summary

if TYPE_CHECKING:
    import torch

    from avsr.recognizers.prepare import Segment
    from avsr.roi.config import RoiConfig


class AVRecognizer:
    """Audio or audio-visual speech -> text with the frozen Whisper and the adapter set that the
    noise classifier and router pick (or the one asked for). Video without a face, or audio
    without video, goes through the audio-only path. ``bank``: an
    :class:`~avsr.adapters.bank.AdapterBank` (PyTorch or CTranslate2 alone)."""

    kind, modes = "av", ("avsr", "asr")

    def __init__(
        self,
        bank: AdapterBank,
        classifier=None,
        router=None,
        roi: RoiConfig | None = None,
        beams: int = 1,
        names: dict[str, str] | None = None,
        adapter: str | None = None,
        batch_size: int = 8,
        decoding: DecodingOptions | None = None,
    ):
        """``classifier``: a noise classifier ready to ``predict`` (:func:`avsr.noise.load_noise_classifier`
        puts a noise head on ``bank``'s frozen encoder); ``adapter``: use this set for every segment
        instead of the router's choice (``none``: the plain frozen Whisper); ``batch_size``: segments
        per Whisper batch; ``decoding``: Whisper's options (temperature fallback, no-speech
        thresholds; default: Whisper's, with ``beams``)."""
        from avsr.noise.router import RouterConfig

        self.bank, self.classifier, self.router = bank, classifier, router or RouterConfig()
        self.roi, self.beams = roi, beams  # None: the default crop settings
        self.decoding = decoding or DecodingOptions(beam_size=beams)
        self.names = names or {}
        self.adapter, self.batch_size = adapter, batch_size

    @classmethod
    def from_pretrained(cls, whisper: str | os.PathLike = "whisper-base", **kw: Any) -> AVRecognizer:
        """The recogniser of :class:`~avsr.recognizers.options.ModelOptions` ``whisper`` and ``kw``
        (``adapters``: a folder of adapter-set folders, every set in it loaded; ``classifier``,
        ``router``, ``engine``, ``compute_type``, ``quantize``, ``adapter``, ``batch_size``,
        ``decoding`` ...; with neither ``adapters`` nor ``classifier``, the sets and noise head that
        ship for ``whisper``)."""
        return cls.from_options(ModelOptions.of(whisper=whisper, **kw))

    @classmethod
    def from_options(cls, opts: ModelOptions, accelerator: str = "cpu") -> AVRecognizer:
        """The recogniser of ``opts``. The engine is :meth:`ModelOptions.engine_for`'s: on ``ct2``
        with only audio-only sets, a registry Whisper and a noise head (or none), nothing but
        CTranslate2 and NumPy runs (:class:`~avsr.adapters.ct2_bank.CT2Bank`); otherwise the
        PyTorch bank (:class:`~avsr.adapters.torch_bank.AVWhisper`), decoding on CTranslate2 when
        the engine is ``ct2`` (each set converted once into the cache, :mod:`avsr.adapters.ct2_sets`)."""
        from avsr.adapters.sets import folder_has_fusion, set_folders
        from avsr.noise import checkpoint_kind, load_noise_classifier
        from avsr.noise.router import RouterConfig, sets_router
        from avsr.whisper.ct2_cache import registry_whisper

        opts = with_shipped(opts)
        opts.check(accelerator=accelerator)
        opts = replace(opts.resolved(accelerator), router=opts.router or _str(sets_router(opts.adapters)))
        folders = set_folders(opts.adapters) if opts.adapters else []
        rc = RouterConfig.from_yaml(opts.router) if opts.router else RouterConfig()
        kw = dict(
            names=opts.names(),
            beams=opts.beam or 1,
            adapter=opts.adapter,
            batch_size=opts.batch_size,
            decoding=opts.decoding,
        )
        ct2_only = (
            opts.engine == "ct2"
            and not any(map(folder_has_fusion, folders))
            and registry_whisper(opts.whisper)
            and (opts.classifier is None or checkpoint_kind(opts.classifier) == "noise-head")
        )
        if ct2_only:
            from avsr.adapters.ct2_bank import CT2Bank

            bank: AdapterBank = CT2Bank(opts.whisper, folders, opts.compute_type)
        else:
            bank = _torch_bank(opts, folders)
        clf = load_noise_classifier(opts.classifier, bank.frozen_encoder(), opts.device) if opts.classifier else None
        rec = cls(bank, clf, rc, **kw)
        if opts.adapter and opts.adapter != NO_ADAPTER and opts.adapter not in bank.sets:
            raise UsageError(
                f"--adapter {opts.adapter}: not installed "
                f"(sets: {', '.join(bank.sets) or 'none'}; give --adapters FOLDER)"
            )
        return rec

    @property
    def needs_crops(self) -> bool:
        """Whether a loaded set uses mouth crops (an audio-visual set): else none are cut."""
        return self.bank.uses_video

    def choose(self, audio: np.ndarray) -> str:
        """The adapter set the classifier and router pick for this audio (``none``: frozen)."""
        return self.route(audio)[0]

    def route(self, audio: np.ndarray, visual: bool = False) -> tuple[str, dict[str, Any] | None]:
        """The adapter set the classifier and router pick for this audio (``visual``: with mouth
        crops), and the classifier's estimate (category, snr, ...; None without a classifier):
        what :meth:`decode` uses for a segment of this audio."""
        name, noise, _ = self._choose(audio, self.adapter, visual)
        return name, noise

    def _choose(self, audio: np.ndarray, adapter: str | None, visual: bool) -> tuple[str, dict[str, Any] | None, str]:
        from avsr.noise.router import route
        from avsr.recognizers.prepare import digital_silence

        silence = self.classifier is not None and digital_silence(audio)  # the head would guess "clean ~25 dB"
        noise = self.classifier.predict(audio) if self.classifier is not None and not silence else None
        if adapter is not None:
            name, why = adapter, "--adapter"
        elif silence:
            name, why = NO_ADAPTER, "digital silence: no noise estimate"
        elif noise is None:
            name, why = self.router.default, "no noise classifier: router default"
        else:
            prob = (noise.get("probs") or {}).get(noise["category"], 1.0)
            d = route(self.router, noise["category"], noise["snr"], self.bank.sets, prob)
            name = d.adapter
            why = f"router rule {d.rule}" if d.rule is not None else "router default"
            if d.skipped:
                why += f" (not installed: {', '.join(d.skipped)})"
        if name != NO_ADAPTER and not visual and self.bank.meta.get(name, {}).get("modality") == "audio-visual":
            scenario = self.bank.meta[name].get("scenario", name)
            alt = [
                n for n, m in self.bank.meta.items() if m.get("scenario") == scenario and m.get("modality") == "audio"
            ]
            why += f"; no video: {'audio-only set ' + alt[0] if alt else 'the audio-visual set without its fusion'}"
            name = alt[0] if alt else name
        return name, noise, why

    def modules(self) -> dict[str, torch.nn.Module]:
        """The PyTorch modules (for Lightning to place); none on the CTranslate2-only path."""
        mods = self.bank.torch_modules()
        if mods and self.classifier is not None:  # a PyTorch bank: a PyTorch classifier
            mods["noise"] = self.classifier
        return mods

    def decode(
        self, segments: list[Segment], adapter: str | None = None, batch_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Prepared segments -> per segment ``text``, the noise estimate, the adapter set used and
        why, whether crops entered the model, timings. The classifier and router choose a set
        per segment; segments that share a set go through Whisper together, ``batch_size`` at a
        time (the same text as one by one: the batch is padded to the 30 s window anyway)."""
        adapter = self.adapter if adapter is None else adapter
        batch_size = batch_size or self.batch_size
        out: list[dict[str, Any]] = [{} for _ in segments]
        groups: dict[str, list[int]] = {}
        for i, seg in enumerate(segments):
            t = time.perf_counter()
            name, noise, why = self._choose(seg.audio, adapter, seg.crops is not None)
            out[i] = {"noise": noise, "adapter": name, "route": why, "timings": {"noise": time.perf_counter() - t}}
            groups.setdefault(name, []).append(i)
        for name, idx in groups.items():
            self.bank.activate(name)
            visual = self.bank.has_fusion(name)
            for s in range(0, len(idx), batch_size):
                chunk = idx[s : s + batch_size]
                t = time.perf_counter()
                audio, _ = pad_array([segments[i].audio for i in chunk])
                crops, frames = pad([segments[i].crops for i in chunk]) if visual else (None, [0] * len(chunk))
                hyps = self.bank.decode(
                    self.bank.features(audio),
                    crops,
                    frames if crops is not None else None,
                    [segments[i].audio for i in chunk],
                    self.decoding,
                )
                share = (time.perf_counter() - t) / len(chunk)
                for j, i in enumerate(chunk):
                    out[i].update(text=hyps[j].text, visual=bool(visual and frames[j] > 0), decoding=summary(hyps[j]))
                    if hyps[j].words is not None:  # times in the window -> in the file
                        off = segments[i].start
                        out[i]["words"] = [
                            w | {"start": round(w["start"] + off, 3), "end": round(w["end"] + off, 3)}
                            for w in hyps[j].words
                        ]
                    out[i]["timings"]["decode"] = share
        return out

    def transcribe(self, path: str | os.PathLike, mode: str = "auto", adapter: str | None = None) -> Result:
        """One file -> its result record (a dict like whisper's: ``text``, ``segments``, plus
        ``mode``, ``noise``, ``adapter``, ``route``, ``visual``, ``timings``). ``mode``: auto (as
        ``avsr transcribe``: avsr for video with sound, asr for audio), avsr (crops when there is
        a face) or asr; files longer than 30 s are cut at quiet moments."""
        if mode not in ("auto", *self.modes):
            raise UsageError(f"mode must be 'auto', 'avsr' or 'asr', got {mode!r}")
        return transcribe_file(self, path, mode, adapter=adapter)


def with_shipped(opts: ModelOptions) -> ModelOptions:
    """``opts`` with the adapter sets and noise head that ship for its Whisper
    (``checkpoints/registry.yaml``) when it names neither sets nor a classifier."""
    from avsr.core.registry import shipped

    if opts.adapters is not None or opts.classifier is not None:
        return opts
    found = shipped("adapter-sets", opts.whisper), shipped("noise-head", opts.whisper)
    return opts if None in found else replace(opts, adapters=str(found[0]), classifier=str(found[1]))


def _torch_bank(opts: ModelOptions, folders: list) -> AdapterBank:
    """The PyTorch bank of ``opts``: Whisper, every set, int8 layers for ``quantize``, CTranslate2
    decoding for the ct2 engine."""
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.whisper.load import load_whisper

    model, proc = load_whisper(opts.whisper, device=opts.device)
    av = AVWhisper(model, proc, opts.whisper).eval()
    for folder in folders:
        av.load_set(folder)
    av.activate(None)
    if opts.quantize is not None:
        from avsr.whisper.quantize import QUANTIZE, quantize_int8

        if opts.quantize not in QUANTIZE:
            raise UsageError(f"quantize must be one of {QUANTIZE}, got {opts.quantize!r}")
        quantize_int8(av.whisper)  # after the adapter sets: peft cannot wrap a quantized layer
    if opts.engine == "ct2":
        av.use_ct2(opts.compute_type)
    return av


def _str(p: os.PathLike | None) -> str | None:
    return None if p is None else os.fspath(p)
