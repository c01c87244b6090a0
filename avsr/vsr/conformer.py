"""Conformer encoder of the Auto-AVSR models (Gulati et al. 2020, as configured by Ma et al. 2023).

Each block: half-step feed-forward (macaron), self-attention with relative positions
(Transformer-XL style, learnt ``pos_bias_u`` / ``pos_bias_v``), convolution module (pointwise ->
GLU -> depthwise -> BatchNorm -> SiLU -> pointwise), half-step feed-forward, LayerNorm; pre-norm
residuals throughout, LayerNorm eps 1e-12, the input scaled by sqrt(d_model). Feed-forward
layers use ReLU. Module and parameter names follow the published checkpoints (``self_attn.
linear_q``, ``feed_forward_macaron.w_1``, ``conv_module.depthwise_conv`` ...), so their
state_dicts load without renaming.

Shapes: x (B, T, d), lengths (B,); padded frames never influence real ones (attention masks
them, the convolution module sees them as zeros), so a batch decodes like its items one by one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LN_EPS = 1e-12


def sinusoid(positions: torch.Tensor, d: int) -> torch.Tensor:
    """(N,) float positions -> (N, d) encodings: sin on even channels, cos on odd ones."""
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32, device=positions.device) * (-math.log(10000.0) / d))
    ang = positions.float()[:, None] * div
    out = torch.empty(len(positions), d, device=positions.device)
    out[:, 0::2], out[:, 1::2] = torch.sin(ang), torch.cos(ang)
    return out


def key_padding_mask(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """(B,) lengths -> (B, t) bool, True on real frames."""
    return torch.arange(t, device=lengths.device)[None] < lengths[:, None]


class FeedForward(nn.Module):
    """Linear -> ReLU -> Linear."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.w_1, self.w_2 = nn.Linear(d, hidden), nn.Linear(hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(torch.relu(self.w_1(x)))


class RelPositionAttention(nn.Module):
    """Multi-head self-attention whose scores add a learnt content bias (``pos_bias_u``) and a
    position term: the query (plus ``pos_bias_v``) against a projection of the sinusoidal
    encoding of the relative distance i - j between query i and key j."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.h, self.d_k = heads, d // heads
        self.linear_q, self.linear_k, self.linear_v, self.linear_out = (nn.Linear(d, d) for _ in range(4))
        self.linear_pos = nn.Linear(d, d, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(heads, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.zeros(heads, self.d_k))

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, h, T, d_k)
        return x.view(x.shape[0], -1, self.h, self.d_k).transpose(1, 2)

    def forward(self, x: torch.Tensor, rel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, T, d); rel (2T-1, d): encodings of distances T-1 ... -(T-1); mask (B, T) True = real."""
        b, t, _ = x.shape
        q = self.linear_q(x).view(b, t, self.h, self.d_k)
        k, v = self._split(self.linear_k(x)), self._split(self.linear_v(x))
        p = self.linear_pos(rel).view(-1, self.h, self.d_k).transpose(0, 1)  # (h, 2T-1, d_k)
        qv = (q + self.pos_bias_v).transpose(1, 2)  # (B, h, T, d_k)
        bd = torch.matmul(qv, p.transpose(-2, -1))  # (B, h, T, 2T-1): column c is distance T-1-c
        i = torch.arange(t, device=x.device)
        bd = bd[:, :, i[:, None], (t - 1) - i[:, None] + i[None, :]]  # (B, h, T, T): distance i - j
        bias = bd / math.sqrt(self.d_k)
        bias = bias.masked_fill(~mask[:, None, None, :], float("-inf"))
        qu = (q + self.pos_bias_u).transpose(1, 2)
        out = F.scaled_dot_product_attention(qu, k, v, attn_mask=bias)
        return self.linear_out(out.transpose(1, 2).reshape(b, t, -1))


class ConvModule(nn.Module):
    """Pointwise conv (d -> 2d) -> GLU -> depthwise conv (kernel k) -> BatchNorm -> SiLU ->
    pointwise conv. Padded frames are zeroed before the depthwise convolution."""

    def __init__(self, d: int, kernel: int):
        super().__init__()
        self.pointwise_conv1 = nn.Conv1d(d, 2 * d, 1)
        self.depthwise_conv = nn.Conv1d(d, d, kernel, padding=(kernel - 1) // 2, groups=d)
        self.norm = nn.BatchNorm1d(d)
        self.pointwise_conv2 = nn.Conv1d(d, d, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = F.glu(self.pointwise_conv1(x.transpose(1, 2)), dim=1)  # (B, d, T)
        y = y.masked_fill(~mask[:, None, :], 0.0)
        y = F.silu(self.norm(self.depthwise_conv(y)))
        return self.pointwise_conv2(y).transpose(1, 2)


class ConformerBlock(nn.Module):
    """x + ff/2, + attention, + conv, + ff/2, then LayerNorm."""

    def __init__(self, d: int, heads: int, ffn: int, kernel: int):
        super().__init__()
        self.feed_forward_macaron = FeedForward(d, ffn)
        self.self_attn = RelPositionAttention(d, heads)
        self.conv_module = ConvModule(d, kernel)
        self.feed_forward = FeedForward(d, ffn)
        for name in ("norm_ff_macaron", "norm_mha", "norm_conv", "norm_ff", "norm_final"):
            setattr(self, name, nn.LayerNorm(d, eps=LN_EPS))

    def forward(self, x: torch.Tensor, rel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.feed_forward_macaron(self.norm_ff_macaron(x))
        x = x + self.self_attn(self.norm_mha(x), rel, mask)
        x = x + self.conv_module(self.norm_conv(x), mask)
        x = x + 0.5 * self.feed_forward(self.norm_ff(x))
        return self.norm_final(x)


class RelPositionScale(nn.Module):
    """The positional stage of the encoder input: scales x by sqrt(d) and makes the relative
    position encodings (no parameters). (B, T, d) -> ((B, T, d), (2T-1, d))."""

    def __init__(self, d: int):
        super().__init__()
        self.d = d

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = x.shape[1]
        rel = sinusoid(torch.arange(t - 1, -t, -1, device=x.device), self.d).to(x.dtype)
        return x * math.sqrt(self.d), rel


class ConformerEncoder(nn.Module):
    """``frontend`` (optional, e.g. :class:`~avsr.vsr.resnet.VisualFrontend`) -> ``embed``
    (Linear in_dim -> d, then :class:`RelPositionScale`) -> ``encoders`` -> ``after_norm``."""

    def __init__(
        self,
        in_dim: int,
        d: int,
        heads: int,
        ffn: int,
        layers: int,
        kernel: int,
        frontend: nn.Module | None = None,
    ):
        super().__init__()
        if frontend is not None:
            self.frontend = frontend
        self.embed = nn.Sequential(nn.Linear(in_dim, d), RelPositionScale(d))
        self.encoders = nn.ModuleList(ConformerBlock(d, heads, ffn, kernel) for _ in range(layers))
        self.after_norm = nn.LayerNorm(d, eps=LN_EPS)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: the front-end's input (or (B, T, in_dim) features without one) -> (B, T, d)."""
        if hasattr(self, "frontend"):
            x = self.frontend(x)
        return self.forward_features(x, lengths)

    def forward_features(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The encoder after its front-end: (B, T, in_dim) features -> (B, T, d)."""
        x, rel = self.embed(x)
        mask = key_padding_mask(lengths, x.shape[1])
        for block in self.encoders:
            x = block(x, rel, mask)
        return self.after_norm(x)
