"""Read CTranslate2 Whisper models (faster-whisper's format) into a transformers state dict.

A CTranslate2 ``model.bin`` (binary version 6) is a flat list of named arrays::

    u32 version | str spec name | u32 revision | u32 count
    count x (str name | u8 ndim | ndim x u32 dim | u8 dtype | u32 nbytes | bytes)
    u32 aliases | aliases x (str alias | str target)

where ``str`` is a u16 length (including a trailing NUL) followed by UTF-8 bytes, and dtype is
the index in (float32, int8, int16, int32, float16, bfloat16). Only data is read: nothing in
the file is executed. Whisper's q/k/v projections are stored fused (the absent key bias is
zeros); cross-attention stores q alone and k/v fused. The mapping below is the inverse of
CTranslate2's own transformers converter, so a round trip gives back the same tensors.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from avsr.core.errors import CheckpointError

if TYPE_CHECKING:
    import torch

_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16 (read as uint16 bits)


class CT2FormatError(CheckpointError, ValueError):
    pass


def _read(f: BinaryIO, fmt: str):
    n = struct.calcsize(fmt)
    b = f.read(n)
    if len(b) != n:
        raise CT2FormatError("unexpected end of file")
    return struct.unpack("<" + fmt, b)[0]


def _string(f: BinaryIO) -> str:
    n = _read(f, "H")
    b = f.read(n)
    if len(b) != n or not b.endswith(b"\0"):
        raise CT2FormatError("bad string record")
    return b[:-1].decode("utf-8")


class _Concat:
    """Reads several files as one stream."""

    def __init__(self, files):
        self.files, self.i = [open(p, "rb") for p in files], 0

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n and self.i < len(self.files):
            chunk = self.files[self.i].read(n - len(out))
            if not chunk:
                self.i += 1
            out += chunk
        return out

    def skip(self, n: int) -> None:
        """Move ``n`` bytes on without reading them."""
        while n > 0 and self.i < len(self.files):
            f = self.files[self.i]
            here, size = f.tell(), os.fstat(f.fileno()).st_size
            step = min(n, size - here)
            f.seek(here + step)
            n -= step
            if n > 0:
                self.i += 1
        if n > 0:
            raise CT2FormatError("unexpected end of file")

    def close(self):
        for f in self.files:
            f.close()


def read_ct2(
    paths: str | os.PathLike | Iterable[str | os.PathLike], keep: Callable[[str], bool] | None = None
) -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, {variable: array}) from a model.bin, or from its parts read in order (a file
    split for size limits). Aliases become extra keys pointing at the same array. With ``keep``,
    the weights it rejects are not read (scalars always are): their entries are zero-filled read-only views of the
    right shape and dtype (so that sizes can still be read off them) that take no memory."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)

    f = _Concat(paths)
    try:
        version = _read(f, "I")
        if not 5 <= version <= 6:
            raise CT2FormatError(f"{paths[0]}: CTranslate2 binary version {version} is not supported (5-6)")
        spec = _string(f)
        _read(f, "I")  # spec revision
        out: dict[str, np.ndarray] = {}
        for _ in range(_read(f, "I")):
            name = _string(f)
            shape = [_read(f, "I") for _ in range(_read(f, "B"))]
            dtype_id, nbytes = _read(f, "B"), _read(f, "I")
            if dtype_id >= len(_DTYPES):
                raise CT2FormatError(f"{name}: unknown dtype id {dtype_id}")
            dt = _DTYPES[dtype_id]
            if keep is not None and nbytes > 64 and not keep(name):  # sizes and flags are always read
                f.skip(nbytes)
                out[name] = np.broadcast_to(np.zeros((), dt or np.float32), shape)
                continue
            raw = f.read(nbytes)
            if len(raw) != nbytes:
                raise CT2FormatError(f"{paths[-1]}: truncated (variable {name!r}); are all parts present?")
            if dt is None:  # bfloat16 -> float32 through the bit pattern
                arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
            else:
                arr = np.frombuffer(raw, dt)
            out[name] = arr.reshape(shape)
        for _ in range(_read(f, "I")):
            alias, target = _string(f), _string(f)
            out[alias] = out[target]
        return spec, out
    except (struct.error, UnicodeDecodeError) as e:
        raise CT2FormatError(f"{paths[0]}: not a CTranslate2 model file ({e})") from e
    finally:
        f.close()


def whisper_dims(v: dict[str, np.ndarray]) -> dict[str, int]:
    """Model sizes read off the arrays."""
    n_enc = sum(1 for k in v if k.startswith("encoder/layer_") and k.endswith("self_attention/linear_1/bias"))
    n_dec = sum(1 for k in v if k.startswith("decoder/layer_") and k.endswith("self_attention/linear_1/bias"))
    vocab, d = v["decoder/embeddings/weight"].shape
    return {
        "vocab_size": int(vocab),
        "d_model": int(d),
        "encoder_layers": n_enc,
        "decoder_layers": n_dec,
        "encoder_attention_heads": int(v["encoder/num_heads"]),
        "decoder_attention_heads": int(v["decoder/num_heads"]),
        "encoder_ffn_dim": int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "decoder_ffn_dim": int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "num_mel_bins": int(v["encoder/conv1/weight"].shape[1]),
        "max_source_positions": int(v["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(v["decoder/position_encodings/encodings"].shape[0]),
    }


def _linear(out: dict, name: str, v: dict, src: str) -> None:
    out[f"{name}.weight"] = v[f"{src}/weight"]
    if f"{src}/bias" in v:
        out[f"{name}.bias"] = v[f"{src}/bias"]


def _norm(out: dict, name: str, v: dict, src: str) -> None:
    out[f"{name}.weight"], out[f"{name}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]


def _split(w: np.ndarray, parts: int) -> list[np.ndarray]:
    return np.split(w, parts, axis=0)


def _attention(out: dict, name: str, v: dict, src: str, fused_qkv: bool) -> None:
    if fused_qkv:
        q, k, vv = _split(v[f"{src}/linear_0/weight"], 3)
        qb, kb, vb = _split(v[f"{src}/linear_0/bias"], 3)
        out_src = f"{src}/linear_1"
    else:
        q, qb = v[f"{src}/linear_0/weight"], v[f"{src}/linear_0/bias"]
        k, vv = _split(v[f"{src}/linear_1/weight"], 2)
        kb, vb = _split(v[f"{src}/linear_1/bias"], 2)
        out_src = f"{src}/linear_2"
    if np.any(kb != 0):
        raise CT2FormatError(f"{src}: non-zero key bias (Whisper has none)")
    out[f"{name}.q_proj.weight"], out[f"{name}.q_proj.bias"] = q, qb
    out[f"{name}.k_proj.weight"] = k
    out[f"{name}.v_proj.weight"], out[f"{name}.v_proj.bias"] = vv, vb
    _linear(out, f"{name}.out_proj", v, out_src)


def whisper_state_dict(v: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """CTranslate2 Whisper arrays -> ``WhisperForConditionalGeneration`` state dict (float32)."""
    import torch

    dims = whisper_dims(v)
    out: dict[str, np.ndarray] = {}
    for side in ("encoder", "decoder"):
        m = f"model.{side}"
        out[f"{m}.embed_positions.weight"] = v[f"{side}/position_encodings/encodings"]
        _norm(out, f"{m}.layer_norm", v, f"{side}/layer_norm")
        for i in range(dims[f"{side}_layers"]):
            src, dst = f"{side}/layer_{i}", f"{m}.layers.{i}"
            _attention(out, f"{dst}.self_attn", v, f"{src}/self_attention", fused_qkv=True)
            _norm(out, f"{dst}.self_attn_layer_norm", v, f"{src}/self_attention/layer_norm")
            if side == "decoder":
                _attention(out, f"{dst}.encoder_attn", v, f"{src}/attention", fused_qkv=False)
                _norm(out, f"{dst}.encoder_attn_layer_norm", v, f"{src}/attention/layer_norm")
            _linear(out, f"{dst}.fc1", v, f"{src}/ffn/linear_0")
            _linear(out, f"{dst}.fc2", v, f"{src}/ffn/linear_1")
            _norm(out, f"{dst}.final_layer_norm", v, f"{src}/ffn/layer_norm")
    for c in ("conv1", "conv2"):
        _linear(out, f"model.encoder.{c}", v, f"encoder/{c}")
    out["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    out["proj_out.weight"] = v.get("decoder/projection/weight", v["decoder/embeddings/weight"])
    return {k: torch.from_numpy(np.array(a, dtype=np.float32)) for k, a in out.items()}


def model_parts(folder: str | os.PathLike) -> list[Path]:
    """model.bin, or model.bin.part1, .part2, ... in order."""
    folder = Path(folder)
    if (folder / "model.bin").is_file():
        return [folder / "model.bin"]
    parts = sorted(folder.glob("model.bin.part*"), key=lambda p: int(p.suffix[5:] or 0))
    if not parts:
        raise CT2FormatError(f"{folder}: no CTranslate2 model.bin")
    return parts
