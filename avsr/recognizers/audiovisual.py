"""``AVRecognizer``: audio (+ mouth crops) -> noise classifier + router -> frozen Whisper with the
chosen adapter set -> text."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from avsr.av.decoding import DecodingOptions, summary
from avsr.core.errors import UsageError
from avsr.core.padding import pad, pad_array
from avsr.recognizers.protocol import transcribe_file
from avsr.recognizers.record import Result

if TYPE_CHECKING:
    import torch

    from avsr.recognizers.prepare import Segment
    from avsr.roi.config import RoiConfig


ENGINES = ("ct2", "torch")


class AVRecognizer:
    """Audio or audio-visual speech -> text with the frozen Whisper and the adapter set that the
    noise classifier and router pick (or the one asked for). Video without a face, or audio
    without video, goes through the audio-only path."""

    kind, modes = "av", ("avsr", "asr")

    def __init__(
        self,
        av,
        classifier=None,
        router=None,
        roi: RoiConfig | None = None,
        beams: int = 1,
        names: dict[str, str] | None = None,
        adapter: str | None = None,
        batch_size: int = 8,
        decoding: DecodingOptions | None = None,
    ):
        """``adapter``: use this set for every segment instead of the router's choice (``none``:
        the plain frozen Whisper); ``batch_size``: segments per Whisper batch; ``decoding``:
        Whisper's options (temperature fallback, no-speech thresholds; default: Whisper's, with
        ``beams``)."""
        from avsr.av.router import RouterConfig

        self.av, self.classifier, self.router = av.eval(), classifier, router or RouterConfig()
        if classifier is not None and hasattr(classifier, "attach"):  # a head on Whisper's lower layers
            plain = av.peft.disable_adapter if av.peft is not None else None
            classifier.attach(av.whisper, plain)
        self.roi, self.beams = roi, beams  # None: the default crop settings
        self.decoding = decoding or DecodingOptions(beam_size=beams)
        self.names = names or {}
        self.adapter, self.batch_size = adapter, batch_size

    @classmethod
    def from_pretrained(
        cls,
        whisper: str = "whisper-base",
        adapters: str | os.PathLike | None = None,
        classifier: str | os.PathLike | None = None,
        router: str | os.PathLike | None = None,
        device: str = "cpu",
        quantize: str | None = None,
        engine: str = "torch",
        compute_type: str = "float32",
        **kw,
    ) -> AVRecognizer:
        """``adapters``: a folder of adapter-set folders (every set in it is loaded).
        ``quantize="int8"``: Whisper's frozen linear layers in int8 on CPU (:mod:`avsr.av.quantize`).
        ``engine="ct2"``: Whisper and the sets run on CTranslate2 (``compute_type`` float32 | int8 |
        int8_float32; each set converted once into the cache, :mod:`avsr.av.ct2_cache`)."""
        from avsr.av.router import RouterConfig, sets_router
        from avsr.av.sets import has_fusion, set_folders

        if engine not in ENGINES:
            raise UsageError(f"engine must be one of {ENGINES}, got {engine!r}")
        if engine == "ct2" and (quantize is not None or device != "cpu"):
            raise UsageError("the ct2 engine runs on CPU with --compute-type (not --quantize, which is torch's)")
        folders = set_folders(adapters) if adapters else []
        router = router or sets_router(adapters)  # else the table that came with the sets
        rc = RouterConfig.from_yaml(router) if router else RouterConfig()
        names = {"whisper": os.fspath(whisper), "engine": engine if engine == "torch" else f"ct2 {compute_type}"} | {
            k: os.fspath(v)
            for k, v in (("adapters", adapters), ("classifier", classifier), ("router", router), ("quantize", quantize))
            if v
        }
        if engine == "ct2" and not any(map(has_fusion, folders)) and _ct2_only(whisper, classifier):
            from avsr.av.ct2_bank import CT2Bank
            from avsr.av.noise_head import NumpyNoiseHead

            bank = CT2Bank(os.fspath(whisper), folders, compute_type)
            clf = NumpyNoiseHead.from_checkpoint(classifier, bank.whisper_arrays()) if classifier else None
            return cls(bank, clf, rc, names=names, **kw)

        from avsr.av.model import AVWhisper
        from avsr.av.whisper import load_whisper
        from avsr.recognizers.checkpoints import load_checkpoint

        model, proc = load_whisper(whisper, device=device)
        av = AVWhisper(model, proc, whisper)
        for folder in folders:
            av.load_set(folder)
        av.activate(None)
        if quantize is not None:
            from avsr.av.quantize import QUANTIZE, quantize_int8

            if quantize not in QUANTIZE:
                raise UsageError(f"quantize must be one of {QUANTIZE}, got {quantize!r}")
            quantize_int8(av.whisper)  # after the adapter sets: peft cannot wrap a quantized layer
        clf = load_checkpoint(classifier, device=device) if classifier else None
        if engine == "ct2":
            av.use_ct2(compute_type)
        return cls(av, clf, rc, names=names, **kw)

    @property
    def needs_crops(self) -> bool:
        """Whether a loaded set uses mouth crops (an audio-visual set): else none are cut."""
        return bool(self.av.fusions)

    def choose(self, audio: np.ndarray) -> str:
        """The adapter set the classifier and router pick for this audio (``none``: frozen)."""
        return self.route(audio)[0]

    def route(self, audio: np.ndarray) -> tuple[str, dict[str, Any] | None]:
        """The adapter set the classifier and router pick for this audio, and the classifier's
        estimate (category, snr, ...; None without a classifier)."""
        name, noise, _ = self._choose(audio, self.adapter, False)
        return name, noise

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

    def modules(self) -> dict[str, torch.nn.Module]:
        """The PyTorch modules (for Lightning to place); none on the CTranslate2-only path."""
        mods = {"av": self.av, "noise": self.classifier}
        return {k: m for k, m in mods.items() if m is not None and hasattr(m, "parameters")}

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
            self.av.activate(name)
            visual = name in self.av.fusions
            for s in range(0, len(idx), batch_size):
                chunk = idx[s : s + batch_size]
                t = time.perf_counter()
                audio, _ = pad_array([segments[i].audio for i in chunk])
                crops, frames = pad([segments[i].crops for i in chunk]) if visual else (None, [0] * len(chunk))
                hyps = self.av.decode(
                    self.av.features(audio),
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

    def transcribe(self, path: str | os.PathLike, mode: str = "avsr", adapter: str | None = None) -> Result:
        """One file -> its result record (a dict like whisper's: ``text``, ``segments``, plus
        ``mode``, ``noise``, ``adapter``, ``route``, ``visual``, ``timings``). ``mode``: avsr
        (crops when there is a face) or asr; files longer than 30 s are cut at quiet moments."""
        if mode not in self.modes:
            raise UsageError(f"mode must be 'avsr' or 'asr', got {mode!r}")
        return transcribe_file(self, path, mode, adapter=adapter)


def _ct2_only(whisper: str | os.PathLike, classifier: str | os.PathLike | None) -> bool:
    """Whether CTranslate2 alone can run this: a registry Whisper, and no classifier or the
    Whisper noise head (which runs in NumPy)."""
    from avsr.av.ct2_bank import registry_whisper
    from avsr.core.store import read_config

    return registry_whisper(os.fspath(whisper)) and (
        classifier is None or read_config(classifier)["kind"] == "noise-head"
    )
