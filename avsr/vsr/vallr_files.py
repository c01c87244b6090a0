"""Reading the VALLR authors' video-to-phoneme checkpoint (``vallr_model.pth`` from the links in
MarshallT-99/VALLR's README; CC BY-NC 4.0, a user download like the Auto-AVSR files).

Their training writes ``torch.save(model.state_dict(), path)`` (``main.py: save_model``); the
file's layout is not documented, so every layout their code or a usual training wrapper can
write is read (:func:`~avsr.vsr.torch_files.read_state_dict`: bare, ``{"state_dict": ...}``,
``{"model_state_dict": ...}``, ``{"model": ...}``, ``module.`` prefixes), always with
``weights_only=True``. A whole pickled module is refused with how to re-save it.

The network's sizes come from the tensor shapes (width, depth, MLP size, patch and tubelet,
adapter and CTC sizes, classes); what shapes cannot tell (frames per clip, image size: VideoMAE's
position table is computed, not stored; attention heads) is the authors' default unless given.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from typing import Any

import torch

from avsr.core.errors import CheckpointError
from avsr.core.files import digests
from avsr.vsr.torch_files import read_state_dict
from avsr.vsr.vallr import VALLR, VALLR_VOCAB, VallrConfig

MARKERS = ("videomae.embeddings.patch_embeddings.projection.weight", "downsampling.0.weight")
UNUSED = "wav2vec2."  # the Wav2Vec2ForCTC their model holds for its lm_head alone
_QV_BIAS = re.compile(r"attention\.attention\.([qv])_bias$")
_QV_NAME = {"q": "query", "v": "value"}


def is_vallr(keys) -> bool:
    """Whether a state dict's keys are the VALLR network's (after :func:`read_state_dict`)."""
    keys = set(keys)
    return all(k in keys for k in MARKERS)


def to_ours(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' state dict -> :class:`~avsr.vsr.vallr.VALLR`'s: the unused Wav2Vec2 dropped;
    transformers 4's attention biases (``q_bias``, ``v_bias``: their requirements pin 4.44.2)
    renamed to transformers 5's (``query.bias``, ``value.bias``); the CTC layer from
    ``ctc_head.*``, or from ``wav2vec2.lm_head.*`` (the same tensors in their model) when a file
    kept only that name."""
    out = {}
    for k, v in sd.items():
        if not k.startswith(UNUSED):
            out[_QV_BIAS.sub(lambda m: f"attention.attention.{_QV_NAME[m.group(1)]}.bias", k)] = v
    for name in ("weight", "bias"):
        if f"ctc_head.{name}" not in out and f"wav2vec2.lm_head.{name}" in sd:
            out[f"ctc_head.{name}"] = sd[f"wav2vec2.lm_head.{name}"]
    return out


def infer_config(sd: dict[str, torch.Tensor], **given: Any) -> VallrConfig:
    """Sizes from shapes (our names); ``given`` (frames, image_size, heads, vocab) fills what
    shapes cannot tell. CheckpointError when a needed tensor is missing."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in sd:
            raise CheckpointError(f"not a VALLR checkpoint: {key!r} is missing")
        return tuple(sd[key].shape)

    hidden, channels, tubelet, patch, _ = shape(MARKERS[0])
    pat = re.compile(r"videomae\.encoder\.layer\.(\d+)\.")
    layers = 1 + max((int(m.group(1)) for k in sd if (m := pat.match(k))), default=-1)
    classes, ctc_dim = shape("ctc_head.weight")
    vocab = tuple(given.pop("vocab", None) or VALLR_VOCAB)
    if len(vocab) != classes:
        raise CheckpointError(
            f"the checkpoint's CTC layer has {classes} classes; the VALLR vocabulary has {len(vocab)} "
            "(<pad> + 39 ARPAbet phonemes): a model trained with another vocabulary needs it given"
        )
    cfg = VallrConfig(
        hidden=hidden,
        layers=layers,
        heads=given.pop("heads", None) or (12 if hidden == 768 else max(1, hidden // 64)),
        intermediate=shape("videomae.encoder.layer.0.intermediate.dense.weight")[0],
        patch=patch,
        tubelet=tubelet,
        channels=channels,
        qkv_bias="videomae.encoder.layer.0.attention.attention.query.bias" in sd,
        mean_pooling="videomae.layernorm.weight" not in sd,
        adapter_dim=shape("downsampling.0.weight")[0],
        ctc_dim=ctc_dim,
        vocab=vocab,
    )
    return replace(cfg, **{k: v for k, v in given.items() if v is not None})


def load_vallr(
    path: str | os.PathLike, device: str | torch.device = "cpu", **given: Any
) -> tuple[VALLR, dict[str, Any]]:
    """The authors' checkpoint -> (:class:`~avsr.vsr.vallr.VALLR` in eval mode, provenance: path,
    sha256, config). Strict: every tensor of the network must be in the file and fit."""
    path = os.fspath(path)
    sd = read_state_dict(path)
    if not is_vallr(sd):
        sample = ", ".join(sorted(sd)[:3])
        raise CheckpointError(f"{path}: not a VALLR checkpoint: expected {' and '.join(MARKERS)}; found {sample} ...")
    ours = to_ours(sd)
    cfg = infer_config(ours, **given)
    model = VALLR(cfg)  # not on the meta device: VideoMAE computes its position table at build time
    try:
        model.load_state_dict(ours, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: does not fit the VALLR network inferred from its shapes: {e}") from e
    info = {"path": path, "sha256": digests(path, ("sha256",))["sha256"], "config": cfg.to_dict()}
    return model.float().to(device).eval(), info
