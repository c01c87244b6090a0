"""Transformer decoder of the Auto-AVSR models: token embedding scaled by sqrt(d) plus absolute
sinusoidal positions, pre-norm blocks (causal self-attention, attention over the encoder
output, ReLU feed-forward), LayerNorm eps 1e-12, a linear output layer. Names follow the
published checkpoints (``decoders.N.self_attn.linear_q``, ``src_attn``, ``norm1..3`` ...).

Two ways to run it, with the same layers:

- :meth:`TransformerDecoder.forward`: teacher forcing over whole token sequences (training, tests);
- :meth:`TransformerDecoder.step`: one new token per hypothesis for beam search, with the
  self-attention keys/values of earlier positions cached, and the keys/values of the encoder
  output computed once per utterance (:meth:`TransformerDecoder.memory`) and shared by all its
  hypotheses (one batched product over the beam, no copies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from avsr.vsr.conformer import LN_EPS, FeedForward, sinusoid


class Attention(nn.Module):
    """Multi-head attention with the projections split out, so that keys and values can be
    computed once and reused."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.h, self.d_k = heads, d // heads
        self.linear_q, self.linear_k, self.linear_v, self.linear_out = (nn.Linear(d, d) for _ in range(4))

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d) -> (B, h, T, d_k)
        return x.view(x.shape[0], -1, self.h, self.d_k).transpose(1, 2)

    def kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.linear_k(x)), self.split(self.linear_v(x))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """q (B, Tq, d) un-projected; k, v (B, h, Tk, d_k); mask broadcastable to (B, h, Tq, Tk), True = keep."""
        b, tq, _ = q.shape
        out = F.scaled_dot_product_attention(self.split(self.linear_q(q)), k, v, attn_mask=mask)
        return self.linear_out(out.transpose(1, 2).reshape(b, tq, -1))


class DecoderLayer(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.self_attn, self.src_attn = Attention(d, heads), Attention(d, heads)
        self.feed_forward = FeedForward(d, ffn)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d, eps=LN_EPS) for _ in range(3))


@dataclass
class DecoderState:
    """Per hypothesis (N rows): the self-attention keys and values of every layer so far,
    each (N, h, L, d_k), and the position of the next token."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    position: int = 0

    def select(self, rows: torch.Tensor) -> DecoderState:
        return DecoderState([k[rows] for k in self.keys], [v[rows] for v in self.values], self.position)


class TransformerDecoder(nn.Module):
    def __init__(self, vocab: int, d: int, heads: int, ffn: int, layers: int):
        super().__init__()
        self.d = d
        self.embed = nn.Sequential(nn.Embedding(vocab, d))
        self.decoders = nn.ModuleList(DecoderLayer(d, heads, ffn) for _ in range(layers))
        self.after_norm = nn.LayerNorm(d, eps=LN_EPS)
        self.output_layer = nn.Linear(d, vocab)

    def _embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        pos = sinusoid(torch.arange(start, start + tokens.shape[1], device=tokens.device), self.d)
        return self.embed[0](tokens) * math.sqrt(self.d) + pos.to(self.embed[0].weight.dtype)

    def memory(self, enc: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Encoder output (U, T, d) -> per layer the cross-attention (keys, values), (U, h, T, d_k)."""
        return [layer.src_attn.kv(enc) for layer in self.decoders]

    def forward(self, tokens: torch.Tensor, enc: torch.Tensor, enc_lengths: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: tokens (B, L) (starting with <sos>), enc (B, T, d) -> logits (B, L, vocab)."""
        L = tokens.shape[1]
        causal = torch.ones(L, L, dtype=torch.bool, device=tokens.device).tril()
        src = (torch.arange(enc.shape[1], device=enc.device)[None] < enc_lengths[:, None])[:, None, None, :]
        x = self._embed(tokens)
        for layer, (mk, mv) in zip(self.decoders, self.memory(enc)):
            y = layer.norm1(x)
            x = x + layer.self_attn.attend(y, *layer.self_attn.kv(y), causal)
            x = x + layer.src_attn.attend(layer.norm2(x), mk, mv, src)
            x = x + layer.feed_forward(layer.norm3(x))
        return self.output_layer(self.after_norm(x))

    def init_state(self, n: int, device: torch.device | str) -> DecoderState:
        h, dk = self.decoders[0].self_attn.h, self.decoders[0].self_attn.d_k
        empty = torch.zeros(n, h, 0, dk, device=device, dtype=self.output_layer.weight.dtype)
        return DecoderState([empty] * len(self.decoders), [empty] * len(self.decoders), 0)

    def step(
        self,
        last: torch.Tensor,
        state: DecoderState,
        memory: list[tuple[torch.Tensor, torch.Tensor]],
        src_mask: torch.Tensor,
        beam: int,
    ) -> tuple[torch.Tensor, DecoderState]:
        """One token per hypothesis. last (U*K,) the newest token of each of K hypotheses of U
        utterances (rows grouped by utterance); memory from :meth:`memory` for the U utterances;
        src_mask (U, 1, 1, T) True on real frames. Returns log-probabilities (U*K, vocab) of the
        next token and the state with this position appended."""
        n = last.shape[0]
        u = n // beam
        x = self._embed(last[:, None], state.position)  # (N, 1, d)
        keys, values = [], []
        for layer, k, v, (mk, mv) in zip(self.decoders, state.keys, state.values, memory):
            y = layer.norm1(x)
            nk, nv = layer.self_attn.kv(y)
            k, v = torch.cat([k, nk], 2), torch.cat([v, nv], 2)
            keys.append(k)
            values.append(v)
            x = x + layer.self_attn.attend(y, k, v, None)
            # cross-attention: the K hypotheses of an utterance are K queries against its memory
            q = layer.norm2(x).view(u, beam, -1)
            x = x + layer.src_attn.attend(q, mk, mv, src_mask).reshape(n, 1, -1)
            x = x + layer.feed_forward(layer.norm3(x))
        logp = torch.log_softmax(self.output_layer(self.after_norm(x[:, 0])).float(), -1)
        return logp, DecoderState(keys, values, state.position + 1)
