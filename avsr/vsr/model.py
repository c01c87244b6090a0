"""VALLR visual front half: mouth-crop video -> CTC phoneme logits.

A 3D-conv stem (spatio-temporal, keeps the frame rate) and a 2D residual trunk turn each frame
into one vector; an optional strided temporal convolution downsamples time by at most
MAX_TIME_STRIDE; transformer blocks (timm) model the sequence; a linear CTC head predicts the
phoneme vocabulary (:data:`avsr.text.VOCAB`). One pass over the whole clip: no sliding windows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from avsr.core.media import MOUTH_CROP_SIZE
from avsr.text import VOCAB

INFER_CHUNK_FRAMES = 64  # frames per front-end pass at inference (see FrameEncoder.forward)
MAX_TIME_STRIDE = 4  # sentence-level CTC needs ~1 output per phoneme: LRS3 averages ~80 a sentence
# grey mouth-crop statistics used to standardise input (Auto-AVSR's LRS3 values)
PIXEL_MEAN, PIXEL_STD = 0.421, 0.165


@dataclass(frozen=True)
class VSRConfig:
    """Architecture of :class:`VSRModel`. ``small`` and ``vallr`` are in :data:`PRESETS`."""

    in_channels: int = 1
    input_size: int = MOUTH_CROP_SIZE
    stem_channels: int = 32
    stage_channels: tuple[int, ...] = (32, 64, 128)
    stage_blocks: tuple[int, ...] = (1, 1, 1)
    dim: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    dropout: float = 0.1
    drop_path: float = 0.05
    time_stride: int = 1
    pos_kernel: int = 15  # depthwise temporal conv giving the transformer relative positions
    vocab_size: int = len(VOCAB)

    def __post_init__(self) -> None:
        if self.time_stride not in range(1, MAX_TIME_STRIDE + 1):
            raise ValueError(
                f"time_stride={self.time_stride}: temporal downsampling must be 1..{MAX_TIME_STRIDE}; more leaves "
                "fewer frames than phonemes in a sentence and CTC cannot align them"
            )
        if len(self.stage_channels) != len(self.stage_blocks) or not self.stage_channels:
            raise ValueError("stage_channels and stage_blocks must be non-empty and of equal length")
        if self.dim % self.heads:
            raise ValueError(f"dim={self.dim} must be divisible by heads={self.heads}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VSRConfig:
        d = dict(d)
        if "preset" in d:
            base = PRESETS[d.pop("preset")].to_dict()
            base.update(d)
            d = base
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown VSRConfig field(s): {', '.join(unknown)}")
        for k in ("stage_channels", "stage_blocks"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


PRESETS = {
    # CPU-friendly: 5.1M parameters
    "small": VSRConfig(),
    # VALLR-sized, 96.7M parameters: ResNet-18 trunk and a ViT-B transformer (12 layers, 768-d, 12 heads)
    "vallr": VSRConfig(
        stem_channels=64,
        stage_channels=(64, 128, 256, 512),
        stage_blocks=(2, 2, 2, 2),
        dim=768,
        depth=12,
        heads=12,
        drop_path=0.1,
    ),
}


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act(y + (x if self.down is None else self.down(x)))


class FrameEncoder(nn.Module):
    """(B, C, T, H, W) -> (B, T, dim): 3D stem over 5 frames, then a per-frame 2D trunk."""

    def __init__(self, cfg: VSRConfig):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(cfg.in_channels, cfg.stem_channels, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
            nn.BatchNorm3d(cfg.stem_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        blocks, cin = [], cfg.stem_channels
        for i, (cout, n) in enumerate(zip(cfg.stage_channels, cfg.stage_blocks)):
            for j in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1))
                cin = cout
        self.trunk = nn.Sequential(*blocks)
        self.proj = nn.Linear(cin, cfg.dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """One pass over the padded batch, except at inference on CPU: there each clip's own
        ``lengths`` frames go in chunks of INFER_CHUNK_FRAMES, each with the stem's temporal
        context on both sides, and zeros past the length. The frames within each length are the
        one pass's (past a length the one pass sees zeros too, like the stem's own padding),
        without the padding's cost or the large activations that make one CPU pass over a batch
        several times slower per frame than short passes. Training keeps the one pass (batch-norm
        statistics need it), and so do GPUs, where batching pays."""
        if self.training or x.device.type != "cpu":
            return self._frames(x)
        b, _, t = x.shape[:3]
        halo = self.stem[0].padding[0]
        out = x.new_zeros(b, t, self.proj.out_features)
        for i in range(b):
            n = t if lengths is None else int(lengths[i])
            for s in range(0, n, INFER_CHUNK_FRAMES):
                e = min(n, s + INFER_CHUNK_FRAMES)
                lo, hi = max(0, s - halo), min(n, e + halo)
                out[i, s:e] = self._frames(x[i : i + 1, :, lo:hi])[0, s - lo : e - lo]
        return out

    def _frames(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t = x.shape[:3]
        x = self.stem(x)  # (B, C, T, H/4, W/4)
        x = x.transpose(1, 2).flatten(0, 1)  # (B*T, C, h, w)
        x = self.trunk(x).mean((2, 3))
        return self.proj(x.view(b, t, -1))


class VSRModel(nn.Module):
    """video (B, T, H, W) or (B, T, C, H, W), uint8 or float in [0, 1], plus lengths (B,) ->
    CTC logits (B, T', vocab) and output lengths (B,), T' = ceil(T / time_stride)."""

    def __init__(self, cfg: VSRConfig):
        super().__init__()
        from timm.models.vision_transformer import Block

        self.cfg = cfg
        self.frontend = FrameEncoder(cfg)
        self.downsample = (
            nn.Conv1d(cfg.dim, cfg.dim, cfg.time_stride, cfg.time_stride) if cfg.time_stride > 1 else nn.Identity()
        )
        self.pos = nn.Conv1d(cfg.dim, cfg.dim, cfg.pos_kernel, padding=cfg.pos_kernel // 2, groups=cfg.dim)
        rates = torch.linspace(0, cfg.drop_path, cfg.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(
                cfg.dim,
                cfg.heads,
                cfg.mlp_ratio,
                qkv_bias=True,
                proj_drop=cfg.dropout,
                attn_drop=cfg.dropout,
                drop_path=r,
            )
            for r in rates
        )
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return torch.div(lengths + self.cfg.time_stride - 1, self.cfg.time_stride, rounding_mode="floor")

    def forward(self, video: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if video.dim() == 4:
            video = video.unsqueeze(2)
        b, t, c, h, w = video.shape
        if c != self.cfg.in_channels:
            raise ValueError(f"model takes {self.cfg.in_channels}-channel frames, got {c}")
        if lengths is None:
            lengths = torch.full((b,), t, dtype=torch.long, device=video.device)
        x = video.float()
        if video.dtype == torch.uint8:
            x = x / 255.0
        x = (x - PIXEL_MEAN) / PIXEL_STD
        frame_ok = torch.arange(t, device=x.device)[None] < lengths[:, None]
        x = x * frame_ok[:, :, None, None, None]  # padding = the convolutions' own zero padding
        x = self.frontend(x.transpose(1, 2), lengths) * frame_ok[..., None]  # (B, T, D)
        if self.cfg.time_stride > 1:
            pad = (-t) % self.cfg.time_stride
            x = self.downsample(nn.functional.pad(x.transpose(1, 2), (0, pad))).transpose(1, 2)
        out_len = self.output_lengths(lengths)
        valid = torch.arange(x.shape[1], device=x.device)[None] < out_len[:, None]  # (B, T')
        x = x * valid[..., None]
        x = x + self.pos(x.transpose(1, 2)).transpose(1, 2)
        mask = valid[:, None, None, :]  # attend to real frames only
        for blk in self.blocks:
            x = blk(x, attn_mask=mask)
        return self.head(self.norm(x)), out_len
