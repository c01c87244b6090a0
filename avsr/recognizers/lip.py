"""``LipReader``: silent video -> mouth crops -> VSR phonemes (CTC) -> phoneme-to-text LLM -> text."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from avsr.core.errors import MissingModelError
from avsr.core.padding import pad
from avsr.core.video import centre_mouth
from avsr.recognizers.protocol import transcribe_file
from avsr.recognizers.record import Result
from avsr.roi.config import RoiConfig
from avsr.text import VOCAB
from avsr.vsr.decode import decode

if TYPE_CHECKING:
    from avsr.p2t.model import PhonemeToText  # or a WordDecoder (avsr.p2t.load): the same call
    from avsr.recognizers.prepare import Segment

TRAIN_VSR = (
    "`avsr roi ... -o roi/` (or data_prep/lrs3.py), then "
    "`avsr train vsr configs/vsr/small.yaml data.train=roi/train/manifest.jsonl data.val=roi/test/manifest.jsonl`, "
    "and pass --vsr runs/vsr-small/final"
)


def vsr_missing() -> str:
    """What to do without ``--vsr``: the published checkpoints (``checkpoints/published.yaml``,
    best first, run as ``--vsr FILE.pth --tokens UNITS``), else train one."""
    from avsr.core.registry import published

    offers = []
    for e in published().values():
        files = sorted(
            (f for f in e.get("files", []) if f["kind"] == "vsr"), key=lambda f: float(f.get("wer_lrs3", 100))
        )
        best: dict[str, str] = {}  # a name published by two releases: its best WER
        for f in files:
            wer = f" ({f['wer_lrs3']}%)" if "wer_lrs3" in f else ""
            best.setdefault(f["file"] + (f" {f['with']}" if f.get("with") else ""), wer)
        if best:
            offers.append(f"{e['title']}: " + ", ".join(k + v for k, v in best.items()))
    if not offers:
        return f"lip reading needs a VSR model (--vsr): train one: {TRAIN_VSR}"
    return (
        "lip reading needs a VSR model (--vsr): published VSR checkpoints (LRS3 WER): "
        + "; ".join(offers)
        + "; download one (links: `avsr models`) and run an Auto-AVSR file as --vsr FILE.pth --tokens "
        + "unigram5000_units.txt (spm/unigram/ in mpc001/auto_avsr), the VALLR file as --vsr FILE.pth "
        + f"(words by the shipped phoneme-to-text adapter, or --phonemes-only). Or train your own: {TRAIN_VSR}"
    )


class LipReader:
    """Silent-video transcription with the two VALLR stages. ``transcribe(path)`` returns the
    result record (:class:`~avsr.recognizers.record.Result`: ``text``, ``phonemes``, ``segments``, ...)."""

    kind, modes = "vsr", ("vsr",)

    def __init__(
        self,
        vsr: torch.nn.Module,
        p2t: PhonemeToText | None = None,
        roi: RoiConfig | None = None,
        method: str = "beam",
        beam: int = 8,
        names: dict[str, str] | None = None,
    ):
        self.vsr, self.p2t, self.roi = vsr.eval(), p2t, roi or RoiConfig()
        self.method, self.beam = method, beam
        self.names = names or {}

    @classmethod
    def from_pretrained(
        cls,
        vsr: str | os.PathLike | None,
        p2t: str | os.PathLike | None = None,
        device: str = "cpu",
        phonemes_only: bool = False,
        **kw,
    ) -> LipReader:
        from avsr.p2t.load import describe, load_phoneme_to_text
        from avsr.recognizers.checkpoints import load_checkpoint

        if not vsr:
            raise MissingModelError(vsr_missing())
        model = load_checkpoint(vsr, device=device)
        names = {"vsr": os.fspath(vsr)} | ({} if phonemes_only else {"p2t": describe(p2t)})
        return cls(model, None if phonemes_only else load_phoneme_to_text(p2t, device=device), names=names, **kw)

    @torch.inference_mode()
    def phonemes(self, crops: np.ndarray | list[np.ndarray]) -> list[str] | list[list[str]]:
        """(T, 88|96, 88|96) uint8 crops -> phonemes; a list of clips -> one list each (one padded batch)."""
        one = isinstance(crops, np.ndarray)
        clips = [centre_mouth(c) for c in ([crops] if one else crops)]
        device = next(self.vsr.parameters()).device
        video, lengths = pad(clips)
        logits, n = self.vsr(video.to(device), lengths.to(device))
        out = [VOCAB.decode(h) for h in decode(logits.log_softmax(-1), n, self.method, self.beam)]
        return out[0] if one else out

    def decode(self, segments: list[Segment]) -> list[dict[str, Any]]:
        """Prepared segments (see :mod:`avsr.recognizers.prepare`) -> per segment ``text``
        (None with ``phonemes_only``), ``phonemes`` and timings; one batch through each stage."""
        t0 = time.perf_counter()
        ph = self.phonemes([s.crops for s in segments])
        t1 = time.perf_counter()
        texts = self.p2t(ph) if self.p2t is not None else [None] * len(ph)
        t2 = time.perf_counter()
        share = {"vsr": (t1 - t0) / len(segments), "p2t": (t2 - t1) / len(segments)}
        return [{"text": t, "phonemes": " ".join(p), "timings": share} for t, p in zip(texts, ph)]

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vsr": self.vsr}

    def transcribe(self, video: str | os.PathLike) -> Result:
        """One silent (or any) video -> its :class:`~avsr.recognizers.record.Result`."""
        return transcribe_file(self, video, "vsr")
