"""The published Auto-AVSR models (Ma et al., ICASSP 2023; mpc001/auto_avsr, Apache-2.0 code), all
three kinds, written here from the paper and the checkpoints' tensor shapes:

- ``vsr`` (lip reading): visual front-end (:class:`~avsr.vsr.resnet.VisualFrontend`) -> Conformer;
- ``asr`` (audio): 1-D ResNet-18 on the raw 16 kHz waveform (:class:`~avsr.vsr.resnet.AudioFrontend`)
  -> Conformer, one frame per 640 samples (25 a second);
- ``avsr`` (audio-visual, release v1.0.0): the visual encoder (``encoder``) and a whole audio
  encoder (``aux_encoder``), their per-frame outputs concatenated and fused by an MLP
  (``fusion``: Linear 2d -> 8192, BatchNorm1d, ReLU, Linear -> d);

then for all three a CTC head and a Transformer decoder over 5,049 SentencePiece units, decoded by
:class:`~avsr.vsr.search.JointSearch`. Files are read and checked by :mod:`avsr.vsr.autoavsr_files`.

Inputs: video (B, 1, T, 88, 88) grey mouth crops at 25 fps, :func:`normalise` d; audio one 1-D
waveform per utterance, :func:`standardise` d over the whole utterance (for ``avsr`` first cut or
zero-padded to T x 640 samples, :func:`fit_audio`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from avsr.core.padding import pad
from avsr.vsr.conformer import ConformerEncoder
from avsr.vsr.model import PIXEL_MEAN, PIXEL_STD
from avsr.vsr.resnet import AUDIO_HOP, AudioFrontend, VisualFrontend
from avsr.vsr.transformer import TransformerDecoder

KINDS = ("vsr", "asr", "avsr")
AUDIO_EPS = 1e-8  # the peer's layer_norm over the waveform


@dataclass(frozen=True)
class AutoAVSRConfig:
    """Sizes of an Auto-AVSR model (defaults: the published 250 M-parameter visual model)."""

    kind: str = "vsr"
    vocab: int = 5049  # <blank> + 5,047 units + <eos>
    d_model: int = 768
    heads: int = 12
    encoder_layers: int = 12
    encoder_ffn: int = 3072
    conv_kernel: int = 31
    decoder_layers: int = 6
    decoder_ffn: int = 3072
    stem: int = 64  # channels of the front-end's first convolution
    fusion_hidden: int = 8192  # avsr only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def blank(self) -> int:
        return 0

    @property
    def eos(self) -> int:
        """<eos>, also used as <sos>: the last unit."""
        return self.vocab - 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Fusion(nn.Module):
    """``fc1`` -> ``bn1`` (over channels) -> ReLU -> ``fc2``: (B, T, 2d) -> (B, T, d)."""

    def __init__(self, cin: int, hidden: int, cout: int):
        super().__init__()
        self.fc1, self.bn1, self.fc2 = nn.Linear(cin, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.bn1(self.fc1(x).transpose(1, 2)).transpose(1, 2)))


class AutoAVSR(nn.Module):
    """``encoder`` (front-end + Conformer), for ``avsr`` also ``aux_encoder`` and ``fusion``,
    ``decoder`` (Transformer) and ``ctc`` (``ctc_lo`` linear)."""

    def __init__(self, cfg: AutoAVSRConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = self._encoder(AudioFrontend(cfg.stem) if cfg.kind == "asr" else VisualFrontend(cfg.stem))
        if cfg.kind == "avsr":
            self.aux_encoder = self._encoder(AudioFrontend(cfg.stem))
            self.fusion = Fusion(2 * cfg.d_model, cfg.fusion_hidden, cfg.d_model)
        self.decoder = TransformerDecoder(cfg.vocab, cfg.d_model, cfg.heads, cfg.decoder_ffn, cfg.decoder_layers)
        self.ctc = nn.Module()
        self.ctc.ctc_lo = nn.Linear(cfg.d_model, cfg.vocab)

    def _encoder(self, front: nn.Module) -> ConformerEncoder:
        c = self.cfg
        return ConformerEncoder(
            front.out_dim, c.d_model, c.heads, c.encoder_ffn, c.encoder_layers, c.conv_kernel, front
        )

    @property
    def uses(self) -> tuple[str, ...]:
        """The inputs it reads: ("video",), ("audio",) or ("video", "audio")."""
        return {"vsr": ("video",), "asr": ("audio",), "avsr": ("video", "audio")}[self.cfg.kind]

    def encode(
        self,
        video: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        audio: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (B, T, d) encoder output (fused for ``avsr``) and its lengths (B,) in 25 fps frames.

        video (B, T, H, W) or (B, 1, T, H, W) normalised grey frames, lengths (B,) their frame
        counts; audio: per utterance a 1-D standardised waveform (``avsr``: exactly lengths x 640
        samples). The audio front-end runs per utterance, so a batch encodes as its items alone."""
        if self.cfg.kind == "asr":
            feats, lengths = _audio_features(self.encoder.frontend, audio)
            return self.encoder.forward_features(feats, lengths), lengths
        if video.dim() == 4:
            video = video[:, None]
        enc = self.encoder(video, lengths)
        if self.cfg.kind == "vsr":
            return enc, lengths
        feats, a_len = _audio_features(self.aux_encoder.frontend, audio)
        if not torch.equal(a_len.to(lengths.device), lengths):
            raise ValueError(f"audio gives {a_len.tolist()} frames, video {lengths.tolist()}: fit_audio() first")
        aux = self.aux_encoder.forward_features(feats.to(enc.device), lengths)
        return self.fusion(torch.cat([enc, aux], -1)), lengths

    def ctc_log_probs(self, enc: torch.Tensor) -> torch.Tensor:
        """(B, T, d) -> (B, T, vocab) CTC log-probabilities (float32)."""
        return torch.log_softmax(self.ctc.ctc_lo(enc).float(), -1)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC logits (B, T, vocab) and lengths of a visual model, like :class:`~avsr.vsr.model.VSRModel`."""
        enc, lengths = self.encode(video, lengths)
        return self.ctc.ctc_lo(enc), lengths


def _audio_features(front: AudioFrontend, audio: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per utterance the front-end's (T_i, 512), padded into (B, T, 512), and T_i (B,)."""
    dev = next(front.parameters()).device
    feats = [front(a.to(dev, torch.float32)[None])[0] for a in audio]
    return pad(feats)


def normalise(crops: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 grey crops (..., H, W) -> float32 ``(x / 255 - PIXEL_MEAN) / PIXEL_STD``."""
    return (torch.as_tensor(crops).float() / 255.0 - PIXEL_MEAN) / PIXEL_STD


def fit_audio(audio: np.ndarray | torch.Tensor, frames: int) -> torch.Tensor:
    """A 16 kHz waveform cut, or zero-padded at the end, to ``frames`` x 640 samples (what the
    audio-visual model was trained on: the peer's ``cut_or_pad`` before standardising)."""
    a = torch.as_tensor(np.asarray(audio, np.float32)).reshape(-1)
    n = frames * AUDIO_HOP
    return a[:n] if len(a) >= n else torch.nn.functional.pad(a, (0, n - len(a)))


def standardise(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A 1-D waveform -> zero mean, unit variance over the whole utterance (the peer's
    ``layer_norm(x, x.shape, eps=1e-8)``)."""
    a = torch.as_tensor(np.asarray(audio, np.float32)).reshape(-1)
    return torch.nn.functional.layer_norm(a, a.shape, eps=AUDIO_EPS)
