"""Composition only: the stages joined into recognisers.

``LipReader``: video -> ROI crops -> VSR phonemes (CTC) -> phoneme-to-text LLM -> text.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from avsr.io import FPS, MOUTH_CROP_SIZE, VSR_SEGMENT_SECONDS
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
        c = MOUTH_CROP_SIZE
        y, x = (crops.shape[1] - c) // 2, (crops.shape[2] - c) // 2
        crops = crops[:, y : y + c, x : x + c]
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
        crops = clip.crops if clip.crops.ndim == 3 else clip.crops.mean(-1).astype(np.uint8)
        ph, spans = self.phonemes(crops)
        text = self.p2t([ph])[0] if self.p2t is not None else None
        return Transcript(str(video), text, ph, clip.frames, clip.face_ratio, spans)
