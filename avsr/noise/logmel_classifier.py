"""Noise classifier: which acoustic scenario is this, and at what SNR?

As in the adapter-based AVSR paper (Simic et al. 2025): 80-bin log-mel -> linear to 256 ->
4 transformer blocks -> masked mean pooling -> a category head and an SNR regression head.
Here a stride-2 convolution replaces the first linear layer (50 frames/s instead of 100: half
the attention cost, no loss in a clip-level decision), and the SNR head predicts dB scaled by
``snr_scale`` (so both losses are of similar size). ``clean`` is a category of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from avsr.core.media import SAMPLE_RATE
from avsr.noise.head_numpy import NOISE_CLASSES, decision
from avsr.vsr.conformer import sinusoid
from avsr.whisper.mel_torch import HOP, N_MELS, log_mel


@dataclass(frozen=True)
class NoiseClassifierConfig:
    n_mels: int = N_MELS
    dim: int = 256
    depth: int = 4
    heads: int = 4
    ffn: int = 1024
    dropout: float = 0.1
    classes: tuple[str, ...] = NOISE_CLASSES
    snr_scale: float = 10.0  # the SNR head outputs dB / snr_scale
    max_seconds: float = 10.0  # longer clips are judged on their first max_seconds

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d


class NoiseClassifier(nn.Module):
    def __init__(self, cfg: NoiseClassifierConfig = NoiseClassifierConfig()):
        super().__init__()
        self.cfg = cfg
        self.front = nn.Sequential(nn.Conv1d(cfg.n_mels, cfg.dim, 3, stride=2, padding=1), nn.GELU())
        max_frames = int(cfg.max_seconds * SAMPLE_RATE / HOP) // 2 + 1
        self.register_buffer("pos", sinusoid(torch.arange(max_frames), cfg.dim), persistent=False)
        layer = nn.TransformerEncoderLayer(
            cfg.dim, cfg.heads, cfg.ffn, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.dim)
        self.category = nn.Linear(cfg.dim, len(cfg.classes))
        self.snr = nn.Linear(cfg.dim, 1)

    def forward(self, mel: torch.Tensor, frames: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """mel (B, n_mels, T) with valid lengths ``frames`` (B,) -> (class logits (B, C), SNR in
        dB (B,)). Padding frames never influence the result (masked attention and pooling)."""
        b, _, t = mel.shape
        frames = torch.full((b,), t, device=mel.device) if frames is None else frames.to(mel.device)
        x = self.front(mel).transpose(1, 2)  # (B, T', dim)
        if x.shape[1] > len(self.pos):
            raise ValueError(f"{t} mel frames: longer than max_seconds={self.cfg.max_seconds}; crop first")
        x = x + self.pos[: x.shape[1]]
        valid = (frames + 1) // 2  # stride-2 frames that hold real input
        pad = torch.arange(x.shape[1], device=x.device)[None] >= valid[:, None]
        x = self.norm(self.blocks(x, src_key_padding_mask=pad))
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1)
        return self.category(pooled), self.snr(pooled).squeeze(-1) * self.cfg.snr_scale

    def features(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(n_mels, T) log-mel of one clip, cropped to ``max_seconds``."""
        a = torch.as_tensor(audio, dtype=torch.float32)[: int(self.cfg.max_seconds * SAMPLE_RATE)]
        return log_mel(a, self.cfg.n_mels)

    @torch.inference_mode()
    def predict(self, audio: np.ndarray | torch.Tensor) -> dict[str, Any]:
        """{"category", "probs", "snr"} for one 16 kHz clip."""
        device = next(self.parameters()).device
        mel = self.features(audio)[None].to(device)
        logits, snr = self.eval()(mel)
        return decision(self.cfg.classes, logits[0], snr[0])
