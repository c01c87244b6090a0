"""The VALLR video-to-phoneme network as its authors published it (MarshallT-99/VALLR at 9793489,
``Models/VALLR.py``, version "V1"), so that their checkpoint runs in avsr.

The network: a VideoMAE encoder (transformers' ``VideoMAEModel``, the default ``VideoMAEConfig``:
ViT-B, 16 frames of 224 x 224, tubelets of 2 x 16 x 16) over the clip's 1,568 tokens; four
Conv1d + BatchNorm1d + ReLU blocks over the token axis (strides 2, 2, 2, 3; 256 channels) and an
average pool (5, stride 8), which leave 8 steps for a 16-frame clip; ``Linear(256, 768) + ReLU``;
and a CTC layer (the ``lm_head`` of a Wav2Vec2ForCTC in their code: a ``Linear(768, 40)``; the rest
of that Wav2Vec2 is in their state dict but never used, and is not built here).

The 40 classes are their ``config.get_vocab()``: ``<pad>`` (the CTC blank) then the 39 ARPAbet
phonemes without stress in alphabetical order, which is avsr's own inventory
(:data:`avsr.text.PHONEMES`) in the same order; they have no word-boundary class.

Input as their inference feeds it: ``(B, T, 3, H, W)`` float RGB pixel values 0-255, not
normalised (``main.py: load_videos``). :mod:`avsr.vsr.vallr_files` reads their files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from avsr.text.phonemes import PHONEMES

VALLR_VOCAB: tuple[str, ...] = ("<pad>", *PHONEMES)  # the authors' get_vocab(): index 0 is the CTC blank


@dataclass(frozen=True)
class VallrConfig:
    """Sizes of the network; the defaults are the authors' (``VideoMAEConfig()``, adapter_dim 256,
    ``Wav2Vec2Config().hidden_size`` 768, their 40-class vocabulary)."""

    hidden: int = 768  # VideoMAE width
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    image_size: int = 224
    patch: int = 16
    tubelet: int = 2
    frames: int = 16  # frames per clip, sampled evenly over it
    channels: int = 3
    qkv_bias: bool = True
    mean_pooling: bool = True  # VideoMAEConfig.use_mean_pooling (True: no final LayerNorm in VideoMAEModel)
    adapter_dim: int = 256
    ctc_dim: int = 768
    vocab: tuple[str, ...] = field(default=VALLR_VOCAB)

    def videomae(self):
        from transformers import VideoMAEConfig

        return VideoMAEConfig(
            image_size=self.image_size,
            patch_size=self.patch,
            num_channels=self.channels,
            num_frames=self.frames,
            tubelet_size=self.tubelet,
            hidden_size=self.hidden,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            intermediate_size=self.intermediate,
            qv_bias=self.qkv_bias,
            use_mean_pooling=self.mean_pooling,
        )

    def steps(self) -> int:
        """CTC steps per clip: the token count through the four strided convolutions and the pool."""
        n = (self.image_size // self.patch) ** 2 * (self.frames // self.tubelet)
        for k, s in ((5, 2), (3, 2), (3, 2), (3, 3)):
            n = (n + 2 * (k // 2) - k) // s + 1
        return (n - 5) // 8 + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"vocab": list(self.vocab)}


class VALLR(nn.Module):
    """Video -> per-step phoneme logits (B, steps, len(vocab)); attribute names are the authors'
    so that their state dict loads as it is (less the unused ``wav2vec2.*``)."""

    def __init__(self, cfg: VallrConfig | None = None):
        super().__init__()
        from transformers import VideoMAEModel

        self.cfg = cfg = cfg or VallrConfig()
        self.videomae = VideoMAEModel(cfg.videomae())
        blocks: list[nn.Module] = []
        width = cfg.hidden
        for kernel, stride in ((5, 2), (3, 2), (3, 2), (3, 3)):
            blocks += [
                nn.Conv1d(width, cfg.adapter_dim, kernel, stride=stride, padding=kernel // 2),
                nn.BatchNorm1d(cfg.adapter_dim),
                nn.ReLU(),
            ]
            width = cfg.adapter_dim
        self.downsampling = nn.Sequential(*blocks, nn.AvgPool1d(kernel_size=5, stride=8))
        self.adapter = nn.Sequential(nn.Linear(cfg.adapter_dim, cfg.ctc_dim), nn.ReLU())
        self.ctc_head = nn.Linear(cfg.ctc_dim, len(cfg.vocab))

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """``video`` (B, frames, 3, H, W) float 0-255 -> logits (B, steps, classes)."""
        tokens = self.videomae(pixel_values=video).last_hidden_state  # (B, N, hidden)
        steps = self.downsampling(tokens.transpose(1, 2)).transpose(1, 2)  # (B, steps, adapter_dim)
        return self.ctc_head(self.adapter(steps))


def greedy(logits: torch.Tensor, vocab: tuple[str, ...] = VALLR_VOCAB) -> list[list[str]]:
    """Greedy CTC decoding as the authors' training loop decodes (``main.py``): the best class per
    step, blanks dropped, and a phoneme dropped when it repeats the last one kept, even across a
    blank (standard CTC would keep ``A <blank> A`` as two). Their ``run_inference`` instead prints
    every step's best class, blanks and repeats included; that is not a phoneme sequence."""
    out = []
    for row in logits.argmax(-1).tolist():
        seq: list[str] = []
        for i in row:
            p = vocab[i]
            if i != 0 and (not seq or seq[-1] != p):
                seq.append(p)
        out.append(seq)
    return out


def sample_frames(n: int, frames: int = 16) -> list[int]:
    """The authors' frame choice: ``frames`` indices evenly spaced over a clip of ``n`` frames,
    first and last included, truncated to integers (``np.linspace(0, n - 1, frames).astype(int)``);
    a clip shorter than ``frames`` repeats frames (their loader skips such clips)."""
    if n < 1:
        raise ValueError("a clip with no frames")
    return np.linspace(0, n - 1, frames).astype(int).tolist()
