"""Composition only: the stages joined into recognisers.

``LipReader``: silent video -> mouth crops -> VSR phonemes (CTC) -> phoneme-to-text LLM -> text.
``AVRecognizer``: audio (+ mouth crops) -> noise classifier + router -> frozen Whisper with the
chosen adapter set -> text.

Both split work the same way: :class:`avsr.transcribe.prepare.Preparer` turns a file into
segments (decoding, crops: no model), ``decode(segments)`` runs the models on a batch of them,
and :func:`avsr.transcribe.record.assemble` makes the result record. ``transcribe(path)`` does
the three in a row; ``avsr transcribe`` runs the first in worker processes, overlapped with the
second (:mod:`avsr.transcribe.engine`).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from avsr.data.noisy import pad_crops
from avsr.io import MediaError, centre_mouth
from avsr.roi import RoiConfig
from avsr.text import VOCAB
from avsr.vsr.decode import decode

if TYPE_CHECKING:
    from avsr.p2t.model import PhonemeToText
    from avsr.transcribe.prepare import Segment

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


class LipReader:
    """Silent-video transcription with the two VALLR stages. ``transcribe(path)`` returns the
    result record (a dict: ``text``, ``phonemes``, ``segments``, ...), like whisper's."""

    def __init__(self, vsr: torch.nn.Module, p2t: PhonemeToText | None = None, roi: RoiConfig | None = None, method: str = "beam", beam: int = 8,
                 names: dict[str, str] | None = None):
        self.vsr, self.p2t, self.roi = vsr.eval(), p2t, roi or RoiConfig()
        self.method, self.beam = method, beam
        self.names = names or {}

    @classmethod
    def from_pretrained(cls, vsr: str | os.PathLike | None, p2t: str | os.PathLike | None = None, device: str = "cpu", phonemes_only: bool = False, **kw) -> "LipReader":
        import avsr
        from avsr.p2t.model import load_p2t

        if not vsr:
            raise MissingModelError(VSR_MISSING)
        if not p2t and not phonemes_only:
            raise MissingModelError(P2T_MISSING)
        model = avsr.load_model(vsr, device=device)
        names = {"vsr": os.fspath(vsr)} | ({"p2t": os.fspath(p2t)} if p2t else {})
        return cls(model, load_p2t(p2t, device=device) if p2t else None, names=names, **kw)

    @torch.inference_mode()
    def phonemes(self, crops: np.ndarray | list[np.ndarray]) -> list[str] | list[list[str]]:
        """(T, 88|96, 88|96) uint8 crops -> phonemes; a list of clips -> one list each (one padded batch)."""
        one = isinstance(crops, np.ndarray)
        clips = [centre_mouth(c) for c in ([crops] if one else crops)]
        device = next(self.vsr.parameters()).device
        lengths = torch.tensor([len(c) for c in clips])
        video = torch.zeros(len(clips), int(lengths.max()), *clips[0].shape[1:], dtype=torch.uint8)
        for i, c in enumerate(clips):
            video[i, : len(c)] = torch.from_numpy(c)
        logits, n = self.vsr(video.to(device), lengths.to(device))
        out = [VOCAB.decode(h) for h in decode(logits.log_softmax(-1), n, self.method, self.beam)]
        return out[0] if one else out

    def decode(self, segments: list[Segment]) -> list[dict[str, Any]]:
        """Prepared segments (see :mod:`avsr.transcribe.prepare`) -> per segment ``text``
        (None with ``phonemes_only``), ``phonemes`` and timings; one batch through each stage."""
        t0 = time.perf_counter()
        ph = self.phonemes([s.crops for s in segments])
        t1 = time.perf_counter()
        texts = self.p2t(ph) if self.p2t is not None else [None] * len(ph)
        t2 = time.perf_counter()
        share = {"vsr": (t1 - t0) / len(segments), "p2t": (t2 - t1) / len(segments)}
        return [{"text": t, "phonemes": " ".join(p), "timings": share} for t, p in zip(texts, ph)]

    def transcribe(self, video: str | os.PathLike) -> dict[str, Any]:
        from avsr.transcribe.prepare import Preparer
        from avsr.transcribe.record import assemble

        segs = list(Preparer("vsr", self.roi)(0, Path(video).stem, os.fspath(video)))
        if segs[-1].error:
            raise MediaError(segs[-1].error)
        return assemble(segs, self.decode(segs), self.names)


class AVRecognizer:
    """Audio or audio-visual speech -> text with the frozen Whisper and the adapter set that the
    noise classifier and router pick (or the one asked for). Video without a face, or audio
    without video, goes through the audio-only path."""

    def __init__(self, av, classifier=None, router=None, roi: RoiConfig | None = None, beams: int = 1, names: dict[str, str] | None = None):
        from avsr.av.router import RouterConfig

        self.av, self.classifier, self.router = av.eval(), classifier, router or RouterConfig()
        self.roi, self.beams = roi or RoiConfig(), beams
        self.names = names or {}

    @classmethod
    def from_pretrained(cls, whisper: str = "whisper-base", adapters: str | os.PathLike | None = None, classifier: str | os.PathLike | None = None,
                        router: str | os.PathLike | None = None, device: str = "cpu", quantize: str | None = None, **kw) -> "AVRecognizer":
        """``adapters``: a folder of adapter-set folders (every set in it is loaded).
        ``quantize="int8"``: Whisper's frozen linear layers in int8 on CPU (:mod:`avsr.av.quantize`)."""
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
        if quantize is not None:
            from avsr.av.quantize import QUANTIZE, quantize_int8

            if quantize not in QUANTIZE:
                raise ValueError(f"quantize must be one of {QUANTIZE}, got {quantize!r}")
            quantize_int8(av.whisper)  # after the adapter sets: peft cannot wrap a quantized layer
        clf = avsr.load_model(classifier, device=device) if classifier else None
        rc = RouterConfig.from_dict(load_yaml(router).get("router", load_yaml(router))) if router else RouterConfig()
        names = {"whisper": os.fspath(whisper)} | {k: os.fspath(v) for k, v in (("adapters", adapters), ("classifier", classifier), ("router", router), ("quantize", quantize)) if v}
        return cls(av, clf, rc, names=names, **kw)

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

    def decode(self, segments: list[Segment], adapter: str | None = None, batch_size: int = 8) -> list[dict[str, Any]]:
        """Prepared segments -> per segment ``text``, the noise estimate, the adapter set used and
        why, whether crops entered the model, timings. The classifier and router choose a set
        per segment; segments that share a set go through Whisper together, ``batch_size`` at a
        time (the same text as one by one: the batch is padded to the 30 s window anyway)."""
        out: list[dict[str, Any]] = [{} for _ in segments]
        groups: dict[str, list[int]] = {}
        for i, seg in enumerate(segments):
            t = time.perf_counter()
            name, noise, why = self._choose(seg.audio, adapter, seg.crops is not None)
            out[i] = {"noise": noise, "adapter": name, "route": why, "timings": {"noise": time.perf_counter() - t}}
            groups.setdefault(name, []).append(i)
        for name, idx in groups.items():
            self.av.activate(name)
            visual = name in self.av.fusions
            for s in range(0, len(idx), batch_size):
                chunk = idx[s : s + batch_size]
                t = time.perf_counter()
                audio = torch.zeros(len(chunk), max(len(segments[i].audio) for i in chunk))
                for j, i in enumerate(chunk):
                    audio[j, : len(segments[i].audio)] = torch.from_numpy(segments[i].audio)
                crops, frames = pad_crops([{"crops": segments[i].crops if visual else None} for i in chunk])
                texts = self.av.generate(self.av.features(audio), crops, frames if crops is not None else None, self.beams)
                share = (time.perf_counter() - t) / len(chunk)
                for j, i in enumerate(chunk):
                    out[i].update(text=texts[j], visual=bool(visual and frames[j] > 0))
                    out[i]["timings"]["decode"] = share
        return out

    def transcribe(self, path: str | os.PathLike, mode: str = "avsr", adapter: str | None = None) -> dict[str, Any]:
        """One file -> its result record (a dict like whisper's: ``text``, ``segments``, plus
        ``mode``, ``noise``, ``adapter``, ``route``, ``visual``, ``timings``). ``mode``: avsr
        (crops when there is a face) or asr; files longer than 30 s are cut at quiet moments."""
        from avsr.transcribe.prepare import Preparer
        from avsr.transcribe.record import assemble

        if mode not in ("avsr", "asr"):
            raise ValueError(f"mode must be 'avsr' or 'asr', got {mode!r}")
        segs = list(Preparer(mode, self.roi)(0, Path(path).stem, os.fspath(path)))
        if segs[-1].error:
            raise MediaError(segs[-1].error)
        return assemble(segs, self.decode(segs, adapter), self.names)
