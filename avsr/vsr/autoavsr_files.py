"""Reading the published Auto-AVSR files: the three model kinds (:mod:`avsr.vsr.autoavsr`) and the
language model (:mod:`avsr.vsr.lm`), each told apart by its keys, with a clear message for a file
given to the wrong flag.

- Layouts: the repository's HEAD keeps ``frontend.*`` and ``proj_encoder.*`` at the top (visual
  and audio models); tag v1.0.0 nests them as ``encoder.frontend.*`` and ``encoder.embed.0.*``
  (our layout; the audio-visual model exists in this layout only). Some files spell
  ``pointwise_cov1/2``. :func:`to_ours` / :func:`to_layout` convert.
- Files are read with ``torch.load(weights_only=True)`` only; a file with a published name must
  have a published md5 prefix; the provenance records its sha256.
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch

from avsr.core.errors import CheckpointError
from avsr.core.files import digests
from avsr.core.registry import check_published, published_entries
from avsr.vsr.autoavsr import AutoAVSR, AutoAVSRConfig
from avsr.vsr.lm import LMConfig, TransformerLM, check_fits, read_lm_config
from avsr.vsr.torch_files import not_torch_file, read_state_dict

__all__ = ["identify", "load_lm", "load_published", "not_torch_file", "read_state_dict", "to_layout", "to_ours"]

LAYOUTS = ("v1", "head")
FLAGS = {"vsr": "--vsr", "asr": "--asr", "avsr": "--avsr", "lm": "--lm"}
WHAT = {
    "vsr": "an Auto-AVSR visual (VSR) checkpoint",
    "asr": "an Auto-AVSR audio-only (ASR) checkpoint",
    "avsr": "an Auto-AVSR audio-visual (AVSR) checkpoint",
    "lm": "a Transformer language model (ESPnet TransformerLM)",
}
_HEAD_TO_V1 = ((re.compile(r"^frontend\."), "encoder.frontend."), (re.compile(r"^proj_encoder\."), "encoder.embed.0."))
_V1_TO_HEAD = (
    (re.compile(r"^encoder\.frontend\."), "frontend."),
    (re.compile(r"^encoder\.embed\.0\."), "proj_encoder."),
)


def identify(keys) -> tuple[str, str]:
    """(kind, layout) of a state_dict: kind ``vsr`` | ``asr`` | ``avsr`` | ``lm``, layout ``v1`` |
    ``head`` (``-`` for an LM). CheckpointError for anything else, saying what was expected."""
    keys = set(keys)
    if {"fusion.fc1.weight", "aux_encoder.frontend.trunk.conv1.weight"} <= keys:
        return "avsr", "v1"
    for layout, prefix in (("v1", "encoder.frontend."), ("head", "frontend.")):
        if prefix + "frontend3D.0.weight" in keys:
            return "vsr", layout
        if prefix + "trunk.conv1.weight" in keys:
            return "asr", layout
    if {"embed.weight", "encoder.embed.0.weight", "decoder.weight"} <= keys and "ctc.ctc_lo.weight" not in keys:
        return "lm", "-"
    sample = ", ".join(sorted(keys)[:3]) or "no keys"
    raise CheckpointError(
        "not an Auto-AVSR checkpoint or language model: expected a state_dict with "
        "'encoder.frontend.frontend3D.0.weight' or 'frontend.frontend3D.0.weight' (visual), "
        "'(encoder.)frontend.trunk.conv1.weight' (audio), "
        f"'fusion.fc1.weight' (audio-visual) or 'embed.weight' + 'decoder.weight' (LM), found {sample} ... "
        "(nor the VALLR authors' V1 network, whose file has 'videomae.*' and 'downsampling.*' keys)"
    )


def to_ours(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A published model state_dict (any kind, either layout, either spelling) -> this package's names."""
    rules = _HEAD_TO_V1 if identify(sd)[1] == "head" else ()
    out = {}
    for k, v in sd.items():
        for pat, rep in rules:
            k = pat.sub(rep, k)
        out[k.replace(".pointwise_cov", ".pointwise_conv")] = v
    return out


def to_layout(sd: dict[str, torch.Tensor], layout: str = "v1") -> dict[str, torch.Tensor]:
    """This package's state_dict -> the published ``layout`` (``"v1"`` = ours, ``"head"``)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "v1":
        return dict(sd)
    out = {}
    for k, v in sd.items():
        for pat, rep in _V1_TO_HEAD:
            k = pat.sub(rep, k)
        out[k] = v
    return out


def infer_config(sd: dict[str, torch.Tensor], kind: str) -> AutoAVSRConfig:
    """Sizes from tensor shapes (our names). Heads: ``pos_bias_u`` is (heads, d_k)."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in sd:
            raise CheckpointError(f"not {WHAT[kind]}: {key!r} is missing")
        return tuple(sd[key].shape)

    def count(prefix: str) -> int:
        pat = re.compile(re.escape(prefix) + r"(\d+)\.")
        return 1 + max((int(m.group(1)) for k in sd if (m := pat.match(k))), default=-1)

    stem = "encoder.frontend.trunk.conv1.weight" if kind == "asr" else "encoder.frontend.frontend3D.0.weight"
    return AutoAVSRConfig(
        kind=kind,
        vocab=shape("decoder.output_layer.weight")[0],
        d_model=shape("encoder.embed.0.weight")[0],
        heads=shape("encoder.encoders.0.self_attn.pos_bias_u")[0],
        encoder_layers=count("encoder.encoders."),
        encoder_ffn=shape("encoder.encoders.0.feed_forward.w_1.weight")[0],
        conv_kernel=shape("encoder.encoders.0.conv_module.depthwise_conv.weight")[-1],
        decoder_layers=count("decoder.decoders."),
        decoder_ffn=shape("decoder.decoders.0.feed_forward.w_1.weight")[0],
        stem=shape(stem)[0],
        fusion_hidden=shape("fusion.fc1.weight")[0] if kind == "avsr" else AutoAVSRConfig.fusion_hidden,
    )


def _read(path: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], str, dict[str, Any]]:
    """The state_dict of ``path``, which must be of ``kind``; its layout and provenance."""
    path = os.fspath(path)
    entries = published_entries(os.path.basename(path))
    sums = digests(path, ("sha256", "md5") if entries else ("sha256",)) if os.path.isfile(path) else {}
    known = check_published(path, entries, sums["md5"]) if entries and sums else None  # a bad download says so
    sd = read_state_dict(path)
    try:
        found, layout = identify(sd)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e
    if found != kind:
        raise CheckpointError(f"{path}: this is {WHAT[found]}, not {WHAT[kind]}: give it with {FLAGS[found]}")
    info = {"path": path, "sha256": sums["sha256"], "layout": layout}
    if known:
        info["published"] = {k: known[k] for k in ("file", "release", "data", "hours", "wer_lrs3") if k in known}
    return sd, layout, info


def load_published(
    path: str | os.PathLike, kind: str = "vsr", device: str | torch.device = "cpu"
) -> tuple[AutoAVSR, dict[str, Any]]:
    """An Auto-AVSR checkpoint of ``kind`` -> (model in eval mode, provenance: path, sha256,
    layout, config). The state_dict must fit the model inferred from its shapes exactly (strict)."""
    sd, _, info = _read(path, kind)
    ours = to_ours(sd)
    cfg = infer_config(ours, kind)
    model = _strict(lambda: AutoAVSR(cfg), ours, f"{path}: does not fit the Auto-AVSR model inferred from its shapes")
    info["config"] = cfg.to_dict()
    return model.float().to(device).eval(), info


def _strict(build, sd: dict[str, torch.Tensor], unfit: str) -> torch.nn.Module:
    """``build()`` on the meta device, then ``sd`` assigned strictly; CheckpointError ``unfit: why``."""
    with torch.device("meta"):
        module = build()
    try:
        module.load_state_dict(sd, strict=True, assign=True)
    except RuntimeError as e:
        raise CheckpointError(f"{unfit}: {e}") from e
    return module


def lm_config_path(path: str | os.PathLike, config: str | os.PathLike | None = None) -> str:
    """The ``model.json`` of an LM: ``config`` when given, else the one beside ``path``."""
    return os.fspath(config) if config else os.path.join(os.path.dirname(os.path.abspath(path)), "model.json")


def load_lm(
    path: str | os.PathLike,
    vocab: int,
    config: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> tuple[TransformerLM, dict[str, Any]]:
    """The Transformer LM of ``path`` (its sizes from ``model.json``: ``config``, else beside it)
    for a model of ``vocab`` units -> (LM in eval mode, provenance). CheckpointError when the
    file is not an LM, was trained over another vocabulary, or does not fit its model.json."""
    sd, _, info = _read(path, "lm")
    json_path = lm_config_path(path, config)
    cfg: LMConfig = read_lm_config(json_path, vocab)
    n = sd["embed.weight"].shape[0]
    if n != vocab:
        raise CheckpointError(
            f"{path}: this language model has {n} units, the recognition model {vocab}: "
            "an LM over another vocabulary cannot be fused (the 19.1% LM is lm_en_subword, over the same 5,049 units)"
        )
    check_fits(cfg, sd, os.fspath(path))
    sd = {k.replace(".norm1.", ".norm_mha.").replace(".norm2.", ".norm_ff."): v for k, v in sd.items()}
    lm = _strict(lambda: TransformerLM(cfg), sd, f"{path}: does not fit the TransformerLM of {json_path}")
    info.update(config=cfg.to_dict(), config_path=json_path)
    return lm.float().to(device).eval(), info
