"""Audio-visual fusion before the frozen Whisper encoder (Simic et al., arXiv 2312.13873).

Choice, documented: the fusion works on Whisper's *input*. A small 3D-conv lip front-end
(:class:`avsr.vsr.model.FrameEncoder`) turns each 88x88 grey mouth crop (25 fps) into a vector;
an audio CNN turns each log-mel frame (100 Hz) into a vector; cross-modal attention lets every
mel frame query the lip sequence, with a relative-position prior that favours the video
frames around it (one video frame spans exactly 4 mel frames: SAMPLES_PER_FRAME / HOP); a linear
layer maps the result to a correction of the 80-bin log-mel, which is added to the input mel.
Whisper itself is unchanged, so the same frozen model (and its adapters) serves the audio-only
path, and a fusion module is small enough to keep one per noise scenario.

Identity at initialisation: the output layer is zero, so before training the corrected mel is
the input mel bit for bit, and the whole model's output is exactly the frozen Whisper's.
Mel frames with no video (past the end of the crops, or a clip with no face) get no correction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from avsr.core.media import MOUTH_CROP_SIZE, SAMPLES_PER_FRAME
from avsr.vsr.model import PIXEL_MEAN, PIXEL_STD, FrameEncoder, VSRConfig
from avsr.whisper.mel_torch import HOP, N_MELS

MEL_PER_VIDEO_FRAME = SAMPLES_PER_FRAME // HOP  # 4


@dataclass(frozen=True)
class FusionConfig:
    n_mels: int = N_MELS
    dim: int = 128
    heads: int = 4
    stem_channels: int = 16
    stage_channels: tuple[int, ...] = (16, 32, 64)
    window: int = 5  # video frames on each side a mel frame may attend to (a 0.44 s span)
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stage_channels"] = list(self.stage_channels)
        return d


class AVFusion(nn.Module):
    """(mel (B, n_mels, T_a), crops (B, T_v, 88, 88) uint8 or float, video_frames (B,)) ->
    corrected mel (B, n_mels, T_a). ``video_frames`` = 0 leaves that row's mel unchanged."""

    def __init__(self, cfg: FusionConfig = FusionConfig()):
        super().__init__()
        self.cfg = cfg
        vcfg = VSRConfig(
            stem_channels=cfg.stem_channels,
            stage_channels=cfg.stage_channels,
            stage_blocks=(1,) * len(cfg.stage_channels),
            dim=cfg.dim,
            heads=cfg.heads,
            input_size=MOUTH_CROP_SIZE,
        )
        self.video = FrameEncoder(vcfg)
        self.audio = nn.Sequential(
            nn.Conv1d(cfg.n_mels, cfg.dim, 3, padding=1), nn.GELU(), nn.Conv1d(cfg.dim, cfg.dim, 3, padding=1)
        )
        self.attn = nn.MultiheadAttention(cfg.dim, cfg.heads, dropout=cfg.dropout, batch_first=True)
        self.norm_a, self.norm_v = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.out = nn.Linear(2 * cfg.dim, cfg.n_mels)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, mel: torch.Tensor, crops: torch.Tensor, video_frames: torch.Tensor) -> torch.Tensor:
        b, _, t_a = mel.shape
        t_v = crops.shape[1]
        video_frames = video_frames.to(mel.device)
        if t_v == 0 or not bool((video_frames > 0).any()):
            return mel
        x = crops.float()
        if crops.dtype == torch.uint8:
            x = x / 255.0
        x = ((x - PIXEL_MEAN) / PIXEL_STD).unsqueeze(1)  # (B, 1, T_v, H, W)
        v_ok = torch.arange(t_v, device=mel.device)[None] < video_frames[:, None]  # (B, T_v)
        v = self.norm_v(self.video(x * v_ok[:, None, :, None, None], video_frames))  # (B, T_v, D)
        a = self.audio(mel).transpose(1, 2)  # (B, T_a, D)
        q = self.norm_a(a)
        # mel frame i sits in video frame i // 4; it may see video frames within +-window
        centre = torch.arange(t_a, device=mel.device) // MEL_PER_VIDEO_FRAME
        dist = (torch.arange(t_v, device=mel.device)[None] - centre[:, None]).abs()  # (T_a, T_v)
        blocked = (dist > self.cfg.window)[None] | ~v_ok[:, None, :]  # (B, T_a, T_v)
        has_video = centre[None] < video_frames[:, None]  # (B, T_a): the mel frame's own video frame exists
        blocked = blocked & has_video[..., None]  # rows without video attend freely (no NaN), then get masked out
        mask = blocked.repeat_interleave(self.cfg.heads, 0)
        ctx, _ = self.attn(q, v, v, attn_mask=mask, need_weights=False)
        delta = self.out(torch.cat([a, ctx], -1)).transpose(1, 2)  # (B, n_mels, T_a)
        return mel + delta * has_video[:, None, :].to(delta.dtype)
