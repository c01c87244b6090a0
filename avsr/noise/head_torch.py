"""Noise classifier on the frozen Whisper encoder's lower layers.

The decode already holds Whisper; its first encoder blocks (of 6 in base) turn a clip into
frame features that separate one talker, many talkers, music and noise far better than a
network trained from scratch on a few hours of mixtures can learn to: they were trained on
680k hours of speech in every condition. The classifier is a small head on those frozen
features with a category and an SNR output, so only the head is trained and shipped (tens to
hundreds of kB; :mod:`avsr.noise.head_numpy` runs it without torch); the Whisper weights come
from the model the recognizer has loaded anyway. Two designs (``WhisperNoiseConfig.pooling``):

- ``stats`` (shipped since v3): the mean and standard deviation over time of the outputs of the
  tapped blocks (1 and 2 of base), standardised, then a one-hidden-layer MLP. Chosen on
  leave-one-package-out accuracy, where it beats the frame MLP by 23 points on the same cache.
- ``frames`` (v1, v2): a frame MLP on block ``layers``' output, then mean + std pooling.

The adapter sets leave these lower layers frozen (``LoraSetConfig.skip_encoder_layers``), so the
features do not depend on the set in use. The head judges the first ``max_seconds`` of a clip,
unpadded (no 30 s window): for a 10 s clip and the shipped head's 2 of 6 blocks, about a ninth
of the encoder's work (``bench/adapters.py`` measures it).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn

from avsr.core.errors import CheckpointError
from avsr.core.media import SAMPLE_RATE
from avsr.noise.head_numpy import FRAME_SAMPLES, WhisperNoiseConfig, decision, pooled_stats
from avsr.whisper.mel_torch import log_mel


def lower_features(encoder, mel: torch.Tensor, layers: int, taps: tuple[int, ...] = ()):
    """(B, n_mels, T) log-mel -> (B, T // 2, d_model): Whisper's convolutional stem, positions and
    first ``layers`` encoder blocks, run on the frames given (no padding to 30 s); with ``taps``:
    the list of the outputs of those blocks (1-based)."""
    x = nn.functional.gelu(encoder.conv1(mel))
    x = nn.functional.gelu(encoder.conv2(x)).transpose(1, 2)
    if x.shape[1] > encoder.embed_positions.num_embeddings:
        raise ValueError(f"{mel.shape[-1]} mel frames: longer than Whisper's 30 s window")
    x = x + encoder.embed_positions.weight[: x.shape[1]]
    out = []
    for i, block in enumerate(encoder.layers[:layers]):
        x = block(x, attention_mask=None)
        x = x[0] if isinstance(x, tuple) else x
        if i + 1 in taps:
            out.append(x)
    return out if taps else x


class NoiseHead(nn.Module):
    """Features -> (class logits (B, C), SNR dB (B,)). ``frames`` pooling: frame features
    (B, T, d_model) with valid lengths; ``stats`` pooling: (B, taps, 2 x d_model) statistics."""

    def __init__(self, cfg: WhisperNoiseConfig = WhisperNoiseConfig()):
        super().__init__()
        self.cfg = cfg
        h, n = cfg.hidden, len(cfg.classes)
        if cfg.pooling == "stats":
            width = 2 * cfg.d_model * len(cfg.tapped)
            self.register_buffer("norm_mean", torch.zeros(width))
            self.register_buffer("norm_std", torch.ones(width))
            self.body = nn.Sequential(nn.Linear(width, h), nn.GELU(), nn.Dropout(cfg.dropout))
            self.category, self.snr = nn.Linear(h, n), nn.Linear(h, 1)
        else:
            self.frame = nn.Sequential(
                nn.LayerNorm(cfg.d_model),
                nn.Linear(cfg.d_model, h),
                nn.GELU(),
                nn.Dropout(cfg.dropout),
                nn.Linear(h, h),
            )
            self.category = nn.Sequential(nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(2 * h, n))
            self.snr = nn.Sequential(nn.GELU(), nn.Linear(2 * h, 1))
        self.encoder = None  # Whisper's encoder, attached at run time (not part of the checkpoint)
        self._plain: Callable[[], AbstractContextManager] = nullcontext

    def fit_norm(self, feats: list[torch.Tensor]) -> NoiseHead:
        """A ``stats`` head: standardise its inputs with the mean and deviation of the training
        examples' ``feats`` (saved with the head). A ``frames`` head has its own LayerNorm."""
        if self.cfg.pooling == "stats":
            x = torch.stack([f.float().reshape(-1) for f in feats])
            self.norm_mean.copy_(x.mean(0))
            self.norm_std.copy_(x.std(0).clamp(min=1e-5))
        return self

    def forward(self, feats: torch.Tensor, frames: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.pooling == "stats":
            z = (feats.reshape(len(feats), -1) - self.norm_mean) / self.norm_std
            h = self.body(z)
            return self.category(h), self.snr(h).squeeze(-1) * self.cfg.snr_scale
        b, t, _ = feats.shape
        frames = torch.full((b,), t, device=feats.device) if frames is None else frames.to(feats.device)
        keep = (torch.arange(t, device=feats.device)[None] < frames[:, None]).unsqueeze(-1).to(feats.dtype)
        x = self.frame(feats)
        n = keep.sum(1).clamp(min=1)
        mean = (x * keep).sum(1) / n
        std = (((x - mean[:, None]) ** 2 * keep).sum(1) / n).clamp(min=1e-6).sqrt()
        pooled = torch.cat([mean, std], -1)
        return self.category(pooled), self.snr(pooled).squeeze(-1) * self.cfg.snr_scale

    # ----- with the frozen Whisper attached
    def attach(self, whisper, plain: Callable[[], AbstractContextManager] | None = None) -> NoiseHead:
        """Use ``whisper``'s encoder for the features. ``plain``: a context in which no adapter
        set is active (``PeftModel.disable_adapter``), for sets that adapt the lower layers."""
        enc = whisper.model.encoder if hasattr(whisper, "model") else whisper
        d, mels = enc.conv1.out_channels, enc.conv1.in_channels
        if (d, mels) != (self.cfg.d_model, self.cfg.n_mels) or len(enc.layers) < self.cfg.layers:
            raise CheckpointError(
                f"noise head for {self.cfg.whisper} (d_model {self.cfg.d_model}, {self.cfg.n_mels} mels) "
                f"cannot use a Whisper with d_model {d}, {mels} mels and {len(enc.layers)} layers"
            )
        self.__dict__["encoder"] = enc  # a plain attribute: not a submodule, not saved
        self._plain = plain or nullcontext
        return self

    def features(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """The frozen features of the first ``max_seconds`` of one 16 kHz clip: (T', d_model)
        frames, or (taps, 2 x d_model) pooled statistics for a ``stats`` head."""
        if self.encoder is None:
            raise CheckpointError("noise head: no Whisper attached (NoiseHead.attach(whisper))")
        a = torch.as_tensor(audio, dtype=torch.float32)[: int(self.cfg.max_seconds * SAMPLE_RATE)]
        a = nn.functional.pad(a, (0, max(0, 2 * FRAME_SAMPLES - len(a))))
        device = self.encoder.conv1.weight.device
        mel = log_mel(a, self.cfg.n_mels)[None].to(device, self.encoder.conv1.weight.dtype)
        with torch.inference_mode(), self._plain():
            if self.cfg.pooling == "stats":
                outs = lower_features(self.encoder, mel, self.cfg.layers, self.cfg.tapped)
                return pooled_stats([x[0].float() for x in outs])
            return lower_features(self.encoder, mel, self.cfg.layers)[0].float()

    @torch.inference_mode()
    def predict(self, audio: np.ndarray | torch.Tensor) -> dict[str, Any]:
        """{"category", "probs", "snr"} for one 16 kHz clip."""
        feats = self.features(audio)
        logits, snr = self.eval()(feats[None].to(next(self.parameters()).device))
        return decision(self.cfg.classes, logits[0], snr[0])
