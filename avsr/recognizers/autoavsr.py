"""The published Auto-AVSR models behind the recogniser protocol, with the decoding the published
numbers used (joint CTC/attention beam search, beam 40, CTC weight 0.1; with ``lm`` the subword
Transformer LM shallow-fused at weight 0.3, the 19.1% configuration) or cheaper CTC-only decoding.

- :class:`AutoAVSRReader`: silent video -> peer-like mouth crops -> a visual model (kind ``vsr``);
- :class:`~avsr.recognizers.autoavsr_speech.AutoAVSRSpeech`: audio (+ mouth crops) -> the audio or
  audio-visual model (kind ``av``).

>>> import avsr
>>> reader = avsr.load_recognizer(vsr="vsr_trlrs3_base.pth", tokens="unigram5000_units.txt")
>>> reader.transcribe("silent.mp4").text
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from avsr.core.errors import UsageError
from avsr.core.padding import pad
from avsr.core.video import centre_mouth
from avsr.recognizers.protocol import transcribe_file
from avsr.recognizers.record import Result
from avsr.roi.config import RoiConfig
from avsr.vsr.autoavsr import AutoAVSR, normalise
from avsr.vsr.decode import beam_search, greedy_decode
from avsr.vsr.search import JointSearch, SearchConfig
from avsr.vsr.units import load_units, units_to_text

if TYPE_CHECKING:
    from avsr.recognizers.options import ModelOptions
    from avsr.recognizers.prepare import Segment
    from avsr.vsr.lm import TransformerLM

DECODES = ("joint", "ctc")
DEFAULT_BEAM = {"joint": 40, "ctc": 1}  # the published setting; CTC greedy
CTC_CANDIDATES = 16  # CTC prefix beam: units tried per frame
LM_WEIGHT = 0.3  # the 19.1% configuration (configs/LRS3_V_WER19.1.ini of the LM's repository)


def peer_roi() -> RoiConfig:
    """The crop settings the published models expect (``configs/roi/auto_avsr.yaml``)."""
    return RoiConfig(mode="mouth", size=96, align="mean_face", gray_from="rgb")


@dataclass
class Decoding:
    """How encoder outputs become words, shared by every Auto-AVSR model: the units, ``decode``
    (``joint``: attention decoder + CTC prefix scores at ``ctc_weight``, + ``lm`` at
    ``lm_weight``; ``ctc``: the encoder alone, greedy at ``beam`` 1, CTC prefix beam search above)."""

    token_list: list[str]
    decode: str = "joint"
    beam: int | None = None
    ctc_weight: float = 0.1
    lm: TransformerLM | None = None
    lm_weight: float | None = None  # None: 0.3 with an LM

    def __post_init__(self) -> None:
        if self.decode not in DECODES:
            raise UsageError(f"--decode {self.decode!r}: the Auto-AVSR models decode with one of {', '.join(DECODES)}")
        self.beam = self.beam or DEFAULT_BEAM[self.decode]
        if self.lm is None and self.lm_weight:
            raise UsageError("--lm-weight needs a language model (--lm model.pth)")
        if self.lm is not None and self.decode == "ctc":
            raise UsageError("--lm is fused into the joint search; --decode ctc uses the encoder alone")
        self.lm_weight = (LM_WEIGHT if self.lm is not None else 0.0) if self.lm_weight is None else self.lm_weight
        self.search = SearchConfig(beam=self.beam, ctc_weight=self.ctc_weight, lm_weight=self.lm_weight)

    def check(self, model: AutoAVSR) -> None:
        if len(self.token_list) != model.cfg.vocab:
            raise UsageError(
                f"the units file gives {len(self.token_list)} tokens, the checkpoint has {model.cfg.vocab}"
            )

    def __call__(self, model: AutoAVSR, enc: torch.Tensor, lengths: torch.Tensor) -> list[dict[str, Any]]:
        """Encoder output (B, T, d) and lengths -> per utterance ``text``, ``tokens``, ``score``
        (None for CTC decoding)."""
        logp = model.ctc_log_probs(enc)
        if self.decode == "joint":
            cfg = model.cfg
            search = JointSearch(model.decoder, self.search, sos=cfg.eos, eos=cfg.eos, blank=cfg.blank, lm=self.lm)
            best = [(h[0].tokens, h[0].score) for h in search(enc, lengths, logp)]
        elif self.beam == 1:
            best = [(t, None) for t in greedy_decode(logp, lengths)]
        else:
            best = [(t, None) for t in beam_search(logp, lengths, self.beam, candidates=CTC_CANDIDATES)]
        return [
            {"text": units_to_text(t, self.token_list), "tokens": t, "score": None if s is None else round(s, 3)}
            for t, s in best
        ]

    def describe(self) -> str:
        """For a run's header: ``joint (beam 40, CTC weight 0.1, LM weight 0.3)``."""
        if self.decode == "ctc":
            return f"ctc (beam {self.beam})"
        lm = f", LM weight {self.lm_weight}" if self.lm is not None else ""
        return f"joint (beam {self.beam}, CTC weight {self.ctc_weight}{lm})"


def load_decoding(opts: ModelOptions, device: str = "cpu") -> tuple[Decoding, dict[str, str]]:
    """The :class:`Decoding` of ``opts`` (units file checked, LM loaded and checked against the
    units) and what names it for the record."""
    if not opts.tokens:
        raise UsageError(
            "an Auto-AVSR checkpoint needs its units file: --tokens unigram5000_units.txt "
            "(spm/unigram/ in mpc001/auto_avsr)"
        )
    token_list = load_units(opts.tokens)
    names = {"tokens": str(opts.tokens)}
    lm = None
    if opts.lm:
        from avsr.vsr.autoavsr_files import load_lm

        lm, info = load_lm(opts.lm, len(token_list), opts.lm_config, device=device)
        names.update(lm=info["path"], lm_sha256=info["sha256"])
    elif opts.lm_config:
        raise UsageError("--lm-config is the model.json of --lm, which is not given")
    decoding = Decoding(token_list, opts.decode or "joint", opts.beam, opts.ctc_weight, lm, opts.lm_weight)
    if lm is not None:
        names["lm_weight"] = str(decoding.lm_weight)
    return decoding, names


def model_names(flag: str, info: dict[str, Any]) -> dict[str, str]:
    """The record's ``model`` entries of one loaded checkpoint (``vsr``, ``vsr_sha256``, ``vsr_layout`` ...)."""
    return {flag: info["path"], f"{flag}_sha256": info["sha256"], f"{flag}_layout": info["layout"]}


class AutoAVSRReader:
    """A published Auto-AVSR visual model behind the recogniser protocol (kind ``vsr``)."""

    kind, modes = "vsr", ("vsr",)

    def __init__(self, model: AutoAVSR, decoding: Decoding, roi: RoiConfig | None = None, names=None):
        decoding.check(model)
        self.model, self.decoding = model.eval(), decoding
        self.roi = roi or peer_roi()
        self.names = names or {}

    @property
    def token_list(self) -> list[str]:
        return self.decoding.token_list

    @property
    def decode_mode(self) -> str:
        return self.decoding.decode

    @property
    def beam(self) -> int:
        return self.decoding.beam

    @classmethod
    def from_options(cls, opts: ModelOptions) -> AutoAVSRReader:
        """Load ``opts.vsr`` (weights only, strict), its units file (length and hash checked) and
        the LM ``opts.lm`` when given."""
        from avsr.vsr.autoavsr_files import load_published

        decoding, names = load_decoding(opts, opts.device)
        model, info = load_published(opts.vsr, "vsr", device=opts.device)
        return cls(model, decoding, names=model_names("vsr", info) | names)

    @torch.inference_mode()
    def read(self, crops: list[np.ndarray]) -> list[dict[str, Any]]:
        """Clips of (T, 88|96, 88|96) uint8 grey mouth crops -> per clip ``text``, ``tokens``
        and ``score`` (None for CTC decoding), all in one padded batch."""
        device = next(self.model.parameters()).device
        video, lengths = pad([normalise(centre_mouth(c)) for c in crops])
        enc, lengths = self.model.encode(video.to(device), lengths.to(device))
        return self.decoding(self.model, enc, lengths)

    def decode(self, segments: list[Segment]) -> list[dict[str, Any]]:
        """Prepared segments -> per segment ``text`` and timings (one batch)."""
        t0 = time.perf_counter()
        out = self.read([s.crops for s in segments])
        share = {"vsr": (time.perf_counter() - t0) / len(segments)}
        return [{"text": r["text"], "timings": share} for r in out]

    def modules(self) -> dict[str, torch.nn.Module]:
        out = {"vsr": self.model}
        if self.decoding.lm is not None:
            out["lm"] = self.decoding.lm
        return out

    def transcribe(self, video: str | os.PathLike) -> Result:
        """One silent (or any) video -> its :class:`~avsr.recognizers.record.Result`."""
        return transcribe_file(self, video, "vsr")
