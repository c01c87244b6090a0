"""``VallrReader``: the VALLR authors' published video-to-phoneme checkpoint behind the recogniser
protocol (kind ``vsr``): silent video -> face crops -> 16 frames -> phonemes (greedy CTC, as the
authors decode) -> avsr's phoneme-to-text stage (by default the shipped adapter; the network has no
word-boundary class, so that stage places the boundaries first: :mod:`avsr.p2t.bigram`).

``avsr transcribe VIDEO --mode vsr --vsr vallr_model.pth [--p2t FOLDER|lexicon|bigram | --phonemes-only]``: a
``.pth`` given to ``--vsr`` whose keys are VALLR's is read here, any other ``.pth`` as an Auto-AVSR
model (:func:`is_vallr_file`).

The crops: the authors' (``configs/roi/vallr.yaml``, ``align="box"``): each frame squeezed to
224 x 224, the bounding box of its FaceMesh landmarks after roll correction, stretched to 224 x
224, no smoothing. avsr's own face mode (``configs/roi/face.yaml``: aligned, aspect kept,
smoothed) can be set as ``reader.roi``; docs/stages.md says how the two differ.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from avsr.core.errors import UsageError
from avsr.recognizers.protocol import transcribe_file
from avsr.recognizers.record import Result
from avsr.roi.config import RoiConfig
from avsr.vsr.vallr import VALLR, greedy, sample_frames

if TYPE_CHECKING:
    from avsr.p2t.model import PhonemeToText
    from avsr.recognizers.options import ModelOptions
    from avsr.recognizers.prepare import Segment


def vallr_roi() -> RoiConfig:
    """The authors' crop (``configs/roi/vallr.yaml``): 224 x 224 RGB faces, each frame squeezed to
    224 x 224, roll-corrected and cut to its landmarks' bounding box, stretched (``align="box"``)."""
    return RoiConfig(mode="face", size=224, color=True, align="box")


def is_vallr_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a readable ``.pth`` whose state dict is the VALLR network's (read
    memory-mapped with ``weights_only=True``: the keys are looked at, not the tensors)."""
    from avsr.vsr.torch_files import read_state_dict
    from avsr.vsr.vallr_files import is_vallr

    try:
        return is_vallr(read_state_dict(path, mmap=True))
    except Exception:  # noqa: BLE001 - not one (or unreadable): the Auto-AVSR reader says why
        return False


def clip_tensor(crops: np.ndarray, frames: int, size: int) -> torch.Tensor:
    """(T, S, S, 3) uint8 RGB crops (or (T, S, S) grey, repeated to 3 channels) -> (frames, 3,
    size, size) float pixel values 0-255, frames chosen as the authors choose them."""
    if crops.ndim == 3:
        crops = np.repeat(crops[..., None], 3, axis=-1)
    x = torch.from_numpy(np.ascontiguousarray(crops[sample_frames(len(crops), frames)])).permute(0, 3, 1, 2).float()
    if x.shape[-1] != size or x.shape[-2] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


class VallrReader:
    """The authors' VALLR network -> phonemes -> text (with a phoneme-to-text adapter)."""

    kind, modes = "vsr", ("vsr",)

    def __init__(
        self, model: VALLR, p2t: PhonemeToText | None = None, roi: RoiConfig | None = None, names=None
    ) -> None:
        self.model, self.p2t = model.eval(), p2t
        self.roi = roi or vallr_roi()
        self.names = names or {}

    @classmethod
    def from_options(cls, opts: ModelOptions) -> VallrReader:
        from avsr.vsr.vallr_files import load_vallr

        if opts.decode not in (None, "greedy"):
            raise UsageError(f"--decode {opts.decode}: the VALLR checkpoint decodes greedily, as its authors do")
        if opts.tokens or opts.lm:
            raise UsageError("--tokens and --lm are for the Auto-AVSR models; a VALLR checkpoint outputs phonemes")
        model, info = load_vallr(opts.vsr, device=opts.device)
        names = {"vsr": info["path"], "vsr_sha256": info["sha256"], "vsr_layout": "vallr"}
        p2t = None
        if not opts.phonemes_only:
            from avsr.p2t.load import describe, load_phoneme_to_text

            p2t = load_phoneme_to_text(opts.p2t, device=opts.device)
            names["p2t"] = describe(opts.p2t)
        return cls(model, p2t, names=names)

    @torch.inference_mode()
    def phonemes(self, clips: list[np.ndarray]) -> list[list[str]]:
        """Face-crop clips -> phonemes per clip (one batch)."""
        cfg = self.model.cfg
        device = next(self.model.parameters()).device
        video = torch.stack([clip_tensor(c, cfg.frames, cfg.image_size) for c in clips]).to(device)
        return greedy(self.model(video), cfg.vocab)

    def decode(self, segments: list[Segment]) -> list[dict[str, Any]]:
        """Prepared segments -> per segment ``text`` (None with no adapter), ``phonemes``, timings."""
        t0 = time.perf_counter()
        ph = self.phonemes([s.crops for s in segments])
        t1 = time.perf_counter()
        # the network has no word-boundary class: the phoneme-to-text stage places them
        texts = self.p2t(ph, boundaries=False) if self.p2t is not None else [None] * len(ph)
        share = {"vsr": (t1 - t0) / len(segments), "p2t": (time.perf_counter() - t1) / len(segments)}
        return [{"text": t, "phonemes": " ".join(p), "timings": share} for t, p in zip(texts, ph)]

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vsr": self.model}

    def transcribe(self, video: str | os.PathLike) -> Result:
        """One silent (or any) video -> its :class:`~avsr.recognizers.record.Result`."""
        return transcribe_file(self, video, "vsr")
