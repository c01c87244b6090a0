"""``AutoAVSRReader``: silent video -> peer-like mouth crops -> the published Auto-AVSR visual
model (:mod:`avsr.vsr.autoavsr`) -> text, with the decoding the published numbers used (joint
CTC/attention beam search, beam 40, CTC weight 0.1) or cheaper CTC-only decoding.

>>> import avsr
>>> reader = avsr.load_recognizer(vsr="vsr_trlrs3_base.pth", tokens="unigram5000_units.txt")
>>> reader.transcribe("silent.mp4").text
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from avsr.core.errors import UsageError
from avsr.core.padding import pad
from avsr.core.video import centre_mouth
from avsr.recognizers.protocol import transcribe_file
from avsr.recognizers.record import Result
from avsr.roi.config import RoiConfig
from avsr.vsr.autoavsr import AutoAVSR, load_published, normalise
from avsr.vsr.decode import beam_search, greedy_decode
from avsr.vsr.search import JointSearch, SearchConfig
from avsr.vsr.units import load_units, units_to_text

if TYPE_CHECKING:
    from avsr.recognizers.prepare import Segment

DECODES = ("joint", "ctc")
DEFAULT_BEAM = {"joint": 40, "ctc": 1}  # the published setting; CTC greedy
CTC_CANDIDATES = 16  # CTC prefix beam: units tried per frame


def peer_roi() -> RoiConfig:
    """The crop settings the published models expect (``configs/roi/auto_avsr.yaml``)."""
    return RoiConfig(mode="mouth", size=96, align="mean_face")


class AutoAVSRReader:
    """A published Auto-AVSR visual model behind the recogniser protocol (kind ``vsr``).

    decode: ``"joint"`` (attention decoder + CTC prefix scores, ``ctc_weight``) or ``"ctc"``
    (encoder only: greedy at ``beam`` 1, CTC prefix beam search above)."""

    kind, modes = "vsr", ("vsr",)

    def __init__(
        self,
        model: AutoAVSR,
        token_list: list[str],
        decode: str = "joint",
        beam: int | None = None,
        ctc_weight: float = 0.1,
        roi: RoiConfig | None = None,
        names: dict[str, str] | None = None,
    ):
        if decode not in DECODES:
            raise UsageError(f"--decode {decode!r}: the Auto-AVSR models decode with one of {', '.join(DECODES)}")
        if len(token_list) != model.cfg.vocab:
            raise UsageError(f"the units file gives {len(token_list)} tokens, the checkpoint has {model.cfg.vocab}")
        self.model, self.token_list = model.eval(), token_list
        self.decode_mode, self.beam = decode, beam or DEFAULT_BEAM[decode]
        self.search = SearchConfig(beam=self.beam, ctc_weight=ctc_weight)
        self.roi = roi or peer_roi()
        self.names = names or {}

    @classmethod
    def from_files(
        cls, checkpoint: str | os.PathLike, tokens: str | os.PathLike | None, device: str = "cpu", **kw: Any
    ) -> AutoAVSRReader:
        """Load a published ``.pth`` (weights only, strict) and its units file (length and hash checked)."""
        if not tokens:
            raise UsageError(
                "an Auto-AVSR checkpoint needs its units file: --tokens unigram5000_units.txt "
                "(spm/unigram/ in mpc001/auto_avsr)"
            )
        token_list = load_units(tokens)
        model, info = load_published(checkpoint, device=device)
        names = {"vsr": info["path"], "vsr_sha256": info["sha256"], "vsr_layout": info["layout"], "tokens": str(tokens)}
        return cls(model, token_list, names=names, **kw)

    @torch.inference_mode()
    def read(self, crops: list[np.ndarray]) -> list[dict[str, Any]]:
        """Clips of (T, 88|96, 88|96) uint8 grey mouth crops -> per clip ``text``, ``tokens``
        and ``score`` (None for CTC decoding), all in one padded batch."""
        device = next(self.model.parameters()).device
        video, lengths = pad([normalise(centre_mouth(c)) for c in crops])
        video, lengths = video.to(device), lengths.to(device)
        enc = self.model.encode(video, lengths)
        logp = self.model.ctc_log_probs(enc)
        if self.decode_mode == "joint":
            cfg = self.model.cfg
            hyps = JointSearch(self.model.decoder, self.search, sos=cfg.eos, eos=cfg.eos, blank=cfg.blank)(
                enc, lengths, logp
            )
            best = [(h[0].tokens, h[0].score) for h in hyps]
        elif self.beam == 1:
            best = [(t, None) for t in greedy_decode(logp, lengths)]
        else:
            best = [(t, None) for t in beam_search(logp, lengths, self.beam, candidates=CTC_CANDIDATES)]
        return [
            {"text": units_to_text(t, self.token_list), "tokens": t, "score": None if s is None else round(s, 3)}
            for t, s in best
        ]

    def decode(self, segments: list[Segment]) -> list[dict[str, Any]]:
        """Prepared segments -> per segment ``text`` and timings (one batch)."""
        t0 = time.perf_counter()
        out = self.read([s.crops for s in segments])
        share = {"vsr": (time.perf_counter() - t0) / len(segments)}
        return [{"text": r["text"], "timings": share} for r in out]

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vsr": self.model}

    def transcribe(self, video: str | os.PathLike) -> Result:
        """One silent (or any) video -> its :class:`~avsr.recognizers.record.Result`."""
        return transcribe_file(self, video, "vsr")
