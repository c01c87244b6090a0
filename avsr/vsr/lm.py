"""The subword Transformer language model behind the published 19.1% lip-reading result (Ma et
al. 2022, mpc001/Visual_Speech_Recognition_for_Multiple_Languages, ``lm_en_subword``): ESPnet's
``TransformerLM`` over the same 5,049 units as the Auto-AVSR models, shallow-fused into their
joint CTC/attention search (:class:`~avsr.vsr.search.JointSearch`, weight 0.3).

Architecture (from the sizes in its ``model.json``): token embedding (``embed_unit``, 128) ->
Linear to ``att_unit`` (512), LayerNorm (eps 1e-5), ReLU, optional sinusoidal positions
(``pos_enc``: the published LM has none) -> ``layer`` (16) pre-norm causal self-attention blocks
(``head`` 8, ReLU feed-forward of ``unit`` 2048, LayerNorm eps 1e-12) -> LayerNorm -> Linear to
the vocabulary. Parameter names are the published file's (``embed.weight``, ``encoder.embed.0``,
``encoder.encoders.N.self_attn.linear_q``, ``norm_mha``, ``norm_ff``, ``decoder.weight`` ...).

:meth:`TransformerLM.step` scores the next token of many prefixes at once with the keys and
values of earlier positions cached (ESPnet recomputes the whole prefix at each step); every
unit, ``<eos>`` included, is an ordinary token.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from avsr.core.errors import CheckpointError
from avsr.vsr.conformer import LN_EPS, FeedForward, sinusoid
from avsr.vsr.transformer import Attention, DecoderState

POS_ENCODINGS = ("none", "sinusoidal")


@dataclass(frozen=True)
class LMConfig:
    """Sizes of the language model (defaults: the published ``lm_en_subword``)."""

    vocab: int = 5049
    layers: int = 16
    d_model: int = 512  # att_unit
    heads: int = 8
    ffn: int = 2048  # unit
    embed: int = 128  # embed_unit
    pos_enc: str = "none"

    def __post_init__(self) -> None:
        if self.pos_enc not in POS_ENCODINGS:
            raise ValueError(f"pos_enc must be one of {POS_ENCODINGS}, got {self.pos_enc!r}")
        if self.d_model % self.heads:
            raise ValueError(f"att_unit {self.d_model} is not divisible by head {self.heads}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LMLayer(nn.Module):
    def __init__(self, d: int, heads: int, ffn: int):
        super().__init__()
        self.self_attn = Attention(d, heads)
        self.feed_forward = FeedForward(d, ffn)
        self.norm_mha, self.norm_ff = nn.LayerNorm(d, eps=LN_EPS), nn.LayerNorm(d, eps=LN_EPS)


class _Body(nn.Module):
    """``encoder.*`` of the published file."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(cfg.embed, cfg.d_model), nn.LayerNorm(cfg.d_model), nn.ReLU())
        self.encoders = nn.ModuleList(LMLayer(cfg.d_model, cfg.heads, cfg.ffn) for _ in range(cfg.layers))
        self.after_norm = nn.LayerNorm(cfg.d_model, eps=LN_EPS)


class TransformerLM(nn.Module):
    """tokens -> next-token log-probabilities. Teacher forcing with :meth:`forward`; one token per
    prefix with :meth:`init_state` / :meth:`step` (the search)."""

    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.embed)
        self.encoder = _Body(cfg)
        self.decoder = nn.Linear(cfg.d_model, cfg.vocab)

    def _input(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = self.encoder.embed(self.embed(tokens))
        if self.cfg.pos_enc == "sinusoidal":
            pos = sinusoid(torch.arange(start, start + tokens.shape[1], device=tokens.device), self.cfg.d_model)
            x = x * math.sqrt(self.cfg.d_model) + pos.to(x.dtype)
        return x

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) -> log-probabilities (B, L, vocab) of the token after each position."""
        L = tokens.shape[1]
        causal = torch.ones(L, L, dtype=torch.bool, device=tokens.device).tril()
        x = self._input(tokens)
        for layer in self.encoder.encoders:
            y = layer.norm_mha(x)
            x = x + layer.self_attn.attend(y, *layer.self_attn.kv(y), causal)
            x = x + layer.feed_forward(layer.norm_ff(x))
        return torch.log_softmax(self.decoder(self.encoder.after_norm(x)).float(), -1)

    def init_state(self, n: int, device: torch.device | str) -> DecoderState:
        att = self.encoder.encoders[0].self_attn
        empty = torch.zeros(n, att.h, 0, att.d_k, device=device, dtype=self.decoder.weight.dtype)
        return DecoderState([empty] * self.cfg.layers, [empty] * self.cfg.layers, 0)

    def step(self, last: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """last (N,) the newest token of each prefix -> log-probabilities (N, vocab) of the next
        one, and the state with this position appended."""
        x = self._input(last[:, None], state.position)
        keys, values = [], []
        for layer, k, v in zip(self.encoder.encoders, state.keys, state.values):
            y = layer.norm_mha(x)
            nk, nv = layer.self_attn.kv(y)
            k, v = torch.cat([k, nk], 2), torch.cat([v, nv], 2)
            keys.append(k)
            values.append(v)
            x = x + layer.self_attn.attend(y, k, v, None)
            x = x + layer.feed_forward(layer.norm_ff(x))
        logp = torch.log_softmax(self.decoder(self.encoder.after_norm(x[:, 0])).float(), -1)
        return logp, DecoderState(keys, values, state.position + 1)


# --- model.json ----------------------------------------------------------------------------

_JSON_FIELDS = {"layer": "layers", "att_unit": "d_model", "head": "heads", "unit": "ffn", "embed_unit": "embed"}


def read_lm_config(path: str | os.PathLike, vocab: int) -> LMConfig:
    """The sizes in an ESPnet LM ``model.json`` (a JSON object; parsed, never executed).
    CheckpointError when it is not one, or describes another kind of LM."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{path}: no such file: the language model needs its model.json (beside model.pth, or --lm-config)"
        )
    try:
        with open(path, "rb") as f:
            conf = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not a JSON file ({e.__class__.__name__}: {e})") from e
    if not isinstance(conf, dict):
        raise CheckpointError(
            f"{path}: a language model's model.json is a JSON object of its sizes; this one is a "
            f"{type(conf).__name__} (an ASR model's model.json is a list: give it with its model, not --lm)"
        )
    module = str(conf.get("model_module", "transformer"))
    if "transformer" not in module.lower():
        raise CheckpointError(
            f"{path}: model_module {module!r}: avsr runs ESPnet's TransformerLM (the 19.1% configuration's LM), "
            "not this kind of language model"
        )
    missing = [k for k in _JSON_FIELDS if k not in conf]
    if missing:
        raise CheckpointError(f"{path}: not a TransformerLM model.json: {', '.join(missing)} missing")
    if conf.get("tie_weights") in (True, "true", "True", 1):
        raise CheckpointError(f"{path}: tie_weights is set; the published LM has separate input and output weights")
    try:
        kw = {ours: int(conf[theirs]) for theirs, ours in _JSON_FIELDS.items()}
        return LMConfig(vocab=vocab, pos_enc=str(conf.get("pos_enc", "sinusoidal")), **kw)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from e


def check_fits(cfg: LMConfig, sd: dict[str, torch.Tensor], where: str) -> None:
    """CheckpointError naming the first size where ``model.json`` and the weights disagree."""
    layers = 1 + max((int(k.split(".")[2]) for k in sd if k.startswith("encoder.encoders.")), default=-1)
    have = {
        "layer": layers,
        "att_unit": sd["encoder.embed.0.weight"].shape[0],
        "embed_unit": sd["embed.weight"].shape[1],
        "unit": sd["encoder.encoders.0.feed_forward.w_1.weight"].shape[0] if layers else 0,
    }
    want = {"layer": cfg.layers, "att_unit": cfg.d_model, "embed_unit": cfg.embed, "unit": cfg.ffn}
    for k in want:
        if want[k] != have[k]:
            raise CheckpointError(
                f"{where}: model.json does not fit the weights: it says {k}={want[k]}, they have {have[k]}"
            )
