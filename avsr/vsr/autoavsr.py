"""The published Auto-AVSR lip-reading models (Ma et al., ICASSP 2023; mpc001/auto_avsr, Apache-2.0
code): ResNet-18 visual front-end -> Conformer encoder -> CTC head and Transformer decoder over
5,049 SentencePiece units. Written here from the paper and the checkpoints' tensor shapes; the
published ``.pth`` files (a plain ``state_dict``, no config inside) load into it strictly.

- :class:`AutoAVSRConfig` is inferred from a state_dict's shapes (:func:`infer_config`);
  attention heads are not visible in the shapes of the decoder, which uses the encoder's count.
- Two key layouts exist: the repository's HEAD keeps ``frontend.*`` and ``proj_encoder.*`` at the
  top, tag v1.0.0 nests them as ``encoder.frontend.*`` and ``encoder.embed.0.*`` (our layout).
  Some checkpoints spell ``pointwise_cov1/2``. :func:`to_ours` / :func:`to_layout` convert.
- :func:`load_published` reads a file with ``torch.load(weights_only=True)`` only, checks that it
  is one of these models and records its sha256.

The model input is (B, 1, T, 88, 88) grey mouth crops at 25 fps, normalised with
:data:`~avsr.vsr.model.PIXEL_MEAN` / ``PIXEL_STD`` after scaling to [0, 1] (:func:`normalise`).
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from avsr.core.errors import CheckpointError
from avsr.core.files import digests
from avsr.core.registry import check_published, published_file
from avsr.vsr.conformer import ConformerEncoder
from avsr.vsr.model import PIXEL_MEAN, PIXEL_STD
from avsr.vsr.resnet import VisualFrontend
from avsr.vsr.transformer import TransformerDecoder

LAYOUTS = ("v1", "head")


@dataclass(frozen=True)
class AutoAVSRConfig:
    """Sizes of an Auto-AVSR visual model (defaults: the published 250 M-parameter models)."""

    vocab: int = 5049  # <blank> + 5,047 units + <eos>
    d_model: int = 768
    heads: int = 12
    encoder_layers: int = 12
    encoder_ffn: int = 3072
    conv_kernel: int = 31
    decoder_layers: int = 6
    decoder_ffn: int = 3072
    stem: int = 64  # channels of the 3D convolution stem

    @property
    def blank(self) -> int:
        return 0

    @property
    def eos(self) -> int:
        """<eos>, also used as <sos>: the last unit."""
        return self.vocab - 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AutoAVSR(nn.Module):
    """``encoder`` (front-end + Conformer), ``decoder`` (Transformer) and ``ctc`` (``ctc_lo`` linear)."""

    def __init__(self, cfg: AutoAVSRConfig):
        super().__init__()
        self.cfg = cfg
        front = VisualFrontend(cfg.stem)
        self.encoder = ConformerEncoder(
            front.out_dim, cfg.d_model, cfg.heads, cfg.encoder_ffn, cfg.encoder_layers, cfg.conv_kernel, front
        )
        self.decoder = TransformerDecoder(cfg.vocab, cfg.d_model, cfg.heads, cfg.decoder_ffn, cfg.decoder_layers)
        self.ctc = nn.Module()
        self.ctc.ctc_lo = nn.Linear(cfg.d_model, cfg.vocab)

    def encode(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """video (B, T, H, W) normalised grey frames (or (B, 1, T, H, W)) -> (B, T, d)."""
        if video.dim() == 4:
            video = video[:, None]
        return self.encoder(video, lengths)

    def ctc_log_probs(self, enc: torch.Tensor) -> torch.Tensor:
        """(B, T, d) -> (B, T, vocab) CTC log-probabilities (float32)."""
        return torch.log_softmax(self.ctc.ctc_lo(enc).float(), -1)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC logits (B, T, vocab) and lengths, like :class:`~avsr.vsr.model.VSRModel`."""
        return self.ctc.ctc_lo(self.encode(video, lengths)), lengths


def normalise(crops: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 grey crops (..., H, W) -> float32 ``(x / 255 - PIXEL_MEAN) / PIXEL_STD``."""
    return (torch.as_tensor(crops).float() / 255.0 - PIXEL_MEAN) / PIXEL_STD


# --- key layouts ---------------------------------------------------------------------------

_HEAD_TO_V1 = (
    (re.compile(r"^frontend\."), "encoder.frontend."),
    (re.compile(r"^proj_encoder\."), "encoder.embed.0."),
)
_V1_TO_HEAD = (
    (re.compile(r"^encoder\.frontend\."), "frontend."),
    (re.compile(r"^encoder\.embed\.0\."), "proj_encoder."),
)


def detect_layout(keys) -> str:
    """``"v1"`` or ``"head"``; CheckpointError for anything else (with what was expected)."""
    keys = set(keys)
    if "encoder.frontend.frontend3D.0.weight" in keys:
        return "v1"
    if "frontend.frontend3D.0.weight" in keys:
        return "head"
    if any(k.startswith(("frontend.frontend1D", "encoder.frontend.frontend1D")) for k in keys):
        raise CheckpointError(
            "this is an Auto-AVSR audio-only (ASR) checkpoint (a 1D front-end on the waveform); "
            "avsr runs the visual (VSR) checkpoints only so far"
        )
    if any(k.startswith(("aux_encoder.", "fusion.", "aux_frontend.")) for k in keys):
        raise CheckpointError(
            "this is an Auto-AVSR audio-visual checkpoint; avsr runs the visual (VSR) checkpoints only so far"
        )
    sample = ", ".join(sorted(keys)[:3]) or "no keys"
    raise CheckpointError(
        "not an Auto-AVSR visual checkpoint: expected a state_dict with 'encoder.frontend.frontend3D.0.weight' "
        f"(v1.0.0 layout) or 'frontend.frontend3D.0.weight' (HEAD layout), found {sample} ..."
    )


def to_ours(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A published state_dict (either layout, either spelling) -> this module's names."""
    rules = _HEAD_TO_V1 if detect_layout(sd) == "head" else ()
    out = {}
    for k, v in sd.items():
        for pat, rep in rules:
            k = pat.sub(rep, k)
        out[k.replace(".pointwise_cov", ".pointwise_conv")] = v
    return out


def to_layout(sd: dict[str, torch.Tensor], layout: str = "v1") -> dict[str, torch.Tensor]:
    """This module's state_dict -> the published ``layout`` (``"v1"`` = ours, ``"head"``)."""
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


def infer_config(sd: dict[str, torch.Tensor]) -> AutoAVSRConfig:
    """Sizes from tensor shapes (our names). Heads: ``pos_bias_u`` is (heads, d_k)."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in sd:
            raise CheckpointError(f"not an Auto-AVSR visual checkpoint: {key!r} is missing")
        return tuple(sd[key].shape)

    def count(prefix: str) -> int:
        pat = re.compile(re.escape(prefix) + r"(\d+)\.")
        return 1 + max((int(m.group(1)) for k in sd if (m := pat.match(k))), default=-1)

    return AutoAVSRConfig(
        vocab=shape("decoder.output_layer.weight")[0],
        d_model=shape("encoder.embed.0.weight")[0],
        heads=shape("encoder.encoders.0.self_attn.pos_bias_u")[0],
        encoder_layers=count("encoder.encoders."),
        encoder_ffn=shape("encoder.encoders.0.feed_forward.w_1.weight")[0],
        conv_kernel=shape("encoder.encoders.0.conv_module.depthwise_conv.weight")[-1],
        decoder_layers=count("decoder.decoders."),
        decoder_ffn=shape("decoder.decoders.0.feed_forward.w_1.weight")[0],
        stem=shape("encoder.frontend.frontend3D.0.weight")[0],
    )


def not_torch_file(path: str | os.PathLike) -> str | None:
    """What ``path`` is when its first bytes show it cannot be a ``torch.save`` file (a zip
    archive, ``PK\\x03\\x04``, or before PyTorch 1.6 a pickle, opcode ``\\x80``); None when it may be one."""
    with open(path, "rb") as f:
        head = f.read(32)
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        return None
    if not head:
        return "an empty file (0 bytes)"
    text = head.decode("utf-8", "ignore")  # a character cut at byte 32 is dropped
    if len(text.encode()) >= len(head) - 3 and all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"a text file (it starts {text.splitlines()[0][:24]!r})" if text.strip() else "a blank text file"
    return f"binary data starting {head[:8]!r}"


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A ``.pth`` state_dict read with ``weights_only=True`` (nothing in it is executed).
    Accepts a bare state_dict, ``{"state_dict": ...}`` and a ``model.`` key prefix."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    what = not_torch_file(path)
    if what:
        raise CheckpointError(
            f"{path}: not a PyTorch checkpoint: {what}, not the zip archive (or older pickle) that torch.save "
            "writes; give a downloaded Auto-AVSR .pth file (`avsr models` lists them)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused: it holds more than tensors (weights_only load failed: {str(e).splitlines()[0]}); "
            "avsr never executes checkpoint content"
        ) from e
    except Exception as e:  # noqa: BLE001 - a damaged pickle or zip fails with many types (KeyError, IndexError ...)
        raise CheckpointError(
            f"{path}: not a readable PyTorch file (truncated or corrupt?): "
            f"{e.__class__.__name__}: {(str(e).splitlines() or [''])[0]}"
        ) from e
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    if all(k.startswith("model.") for k in obj):
        obj = {k[len("model.") :]: v for k, v in obj.items()}
    return obj


def load_published(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[AutoAVSR, dict[str, Any]]:
    """An Auto-AVSR visual checkpoint -> (model in eval mode, provenance: path, sha256, layout,
    config). The state_dict must fit the inferred model exactly (strict)."""
    known = published_file(os.path.basename(path))
    sums = digests(path, ("sha256", "md5") if known else ("sha256",)) if os.path.isfile(path) else {}
    if known and sums:  # a bad download says so before it fails to unpickle
        check_published(path, known, sums["md5"])
    sd = read_state_dict(path)
    layout = detect_layout(sd)
    ours = to_ours(sd)
    cfg = infer_config(ours)
    with torch.device("meta"):
        model = AutoAVSR(cfg)
    try:
        model.load_state_dict(ours, strict=True, assign=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: does not fit the Auto-AVSR model inferred from its shapes: {e}") from e
    info = {"path": os.fspath(path), "sha256": sums["sha256"], "layout": layout, "config": cfg.to_dict()}
    if known:
        info["published"] = {k: known[k] for k in ("file", "data", "hours", "wer_lrs3")}
    return model.float().to(device).eval(), info
