"""The noise head without torch: what the CTranslate2 path runs.

The shipped noise classifier is a small head on the frozen Whisper encoder's first blocks
(:mod:`avsr.noise.head_torch` trains it in PyTorch). Its input is a few hundred frames
through three encoder blocks, which NumPy computes in tens of milliseconds, so the recognizer
on CTranslate2 needs neither torch nor transformers for it: :class:`NumpyNoiseHead` reads the
head's safetensors and the Whisper blocks from the CTranslate2 ``model.bin`` the engine loads
anyway, and computes what the PyTorch head computes (the same decision; logits within float32
rounding, checked in ``tests/noise/test_noise_head.py``).

The config, the class list and the decision are defined here, once, for both implementations.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avsr.core.errors import CheckpointError
from avsr.core.media import SAMPLE_RATE
from avsr.data.mixing import CATEGORIES

NOISE_CLASSES = ("clean",) + CATEGORIES
FRAME_SAMPLES = 320  # one Whisper encoder frame: 20 ms


@dataclass(frozen=True)
class WhisperNoiseConfig:
    whisper: str = "whisper-base"  # the model whose lower encoder layers give the features
    layers: int = 3  # encoder blocks run
    d_model: int = 512
    n_mels: int = 80
    hidden: int = 256
    dropout: float = 0.1
    classes: tuple[str, ...] = NOISE_CLASSES
    snr_scale: float = 10.0  # the SNR head outputs dB / snr_scale
    max_seconds: float = 10.0
    # "frames": a frame MLP on block ``layers``' output, then mean + std pooling (the v1/v2 heads);
    # "stats": the mean + std over time of the outputs of the blocks in ``taps`` (1-based, at most
    # ``layers``), standardised with the training set's statistics, then a one-hidden-layer MLP.
    # Pooling the frozen features first leaves the head nothing to fit to the frame patterns of
    # the training recordings: leave-one-package-out accuracy 45.8% -> 68.9% on the same cache.
    pooling: str = "frames"
    taps: tuple[int, ...] = ()

    def __post_init__(self):
        if self.pooling not in ("frames", "stats"):
            raise ValueError(f"noise head pooling {self.pooling!r}: 'frames' or 'stats'")
        if any(not 1 <= t <= self.layers for t in self.taps):
            raise ValueError(f"noise head taps {list(self.taps)}: blocks 1..layers ({self.layers})")

    @property
    def tapped(self) -> tuple[int, ...]:
        """The blocks whose outputs the head reads (1-based)."""
        return self.taps or (self.layers,)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"], d["taps"] = list(self.classes), list(self.taps)
        return d


def pooled_stats(outputs) -> Any:
    """(taps, 2 x d_model): the mean and standard deviation over time of each tapped block's
    (T, d_model) output (NumPy arrays or tensors; population standard deviation)."""
    if hasattr(outputs[0], "detach"):
        import torch

        return torch.stack([torch.cat([x.mean(0), x.var(0, unbiased=False).sqrt()]) for x in outputs])
    return np.stack([np.concatenate([x.mean(0), x.std(0)]) for x in outputs]).astype(np.float32)


def decision(classes: tuple[str, ...], logits, snr) -> dict[str, Any]:
    """One clip's {"category", "probs", "snr"} from its class logits (C,) and SNR estimate
    (NumPy arrays or CPU/GPU tensors)."""
    if hasattr(logits, "detach"):
        logits, snr = logits.detach().float().cpu().numpy(), snr.detach().float().cpu().numpy()
    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    return {
        "category": classes[int(p.argmax())],
        "probs": {c: round(float(v), 4) for c, v in zip(classes, p)},
        "snr": round(float(snr), 2),
    }


# ----- NumPy building blocks (float32)
def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 resolution at GELU's scale)."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(
        -a * a
    )
    return s * y


def gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU, as ``nn.GELU()`` and Whisper use."""
    return (0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))).astype(np.float32)


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1) -> np.ndarray:
    """(C_in, T) -> (C_out, T'): kernel 3, padding 1, as Whisper's stem."""
    k = w.shape[-1]
    xp = np.pad(x, ((0, 0), (k // 2, k // 2)))
    cols = np.lib.stride_tricks.sliding_window_view(xp, k, axis=1)[:, ::stride]  # (C_in, T', k)
    return np.einsum("ctk,ock->ot", cols, w, optimize=True) + b[:, None]


class LowerEncoder:
    """Whisper's convolutional stem, positions and first ``layers`` encoder blocks, in NumPy,
    from the arrays of a CTranslate2 Whisper (``avsr.whisper.ct2_file.read_ct2``)."""

    def __init__(self, v: dict[str, np.ndarray], layers: int):
        n = sum(1 for k in v if k.startswith("encoder/layer_") and k.endswith("self_attention/linear_1/bias"))
        if n < layers:
            raise CheckpointError(f"the noise head needs {layers} encoder blocks; this Whisper has {n}")
        f32 = {k: np.asarray(a, dtype=np.float32) for k, a in v.items() if k.startswith("encoder/")}
        self.v, self.layers, self.heads = f32, layers, int(np.asarray(v["encoder/num_heads"]))
        self.d_model, self.n_mels = f32["encoder/conv1/weight"].shape[:2]

    def __call__(self, mel: np.ndarray, taps: tuple[int, ...] = ()) -> np.ndarray | list[np.ndarray]:
        """(n_mels, T) log-mel -> (T // 2, d_model) features after the first ``layers`` blocks;
        with ``taps``: the outputs of those blocks (1-based), in order."""
        v = self.v
        x = gelu(conv1d(mel, v["encoder/conv1/weight"], v["encoder/conv1/bias"]))
        x = gelu(conv1d(x, v["encoder/conv2/weight"], v["encoder/conv2/bias"], stride=2)).T
        pos = v["encoder/position_encodings/encodings"]
        if len(x) > len(pos):
            raise ValueError(f"{mel.shape[-1]} mel frames: longer than Whisper's 30 s window")
        x = x + pos[: len(x)]
        out = []
        for i in range(self.layers):
            x = self._block(x, f"encoder/layer_{i}")
            if i + 1 in taps:
                out.append(x)
        return out if taps else x

    def _block(self, x: np.ndarray, p: str) -> np.ndarray:
        v, t, d = self.v, len(x), x.shape[1]
        hd = d // self.heads
        h = layer_norm(x, v[f"{p}/self_attention/layer_norm/gamma"], v[f"{p}/self_attention/layer_norm/beta"])
        qkv = h @ v[f"{p}/self_attention/linear_0/weight"].T + v[f"{p}/self_attention/linear_0/bias"]
        q, k, val = (a.reshape(t, self.heads, hd).transpose(1, 0, 2) for a in np.split(qkv, 3, axis=1))
        att = (q * hd**-0.5) @ k.transpose(0, 2, 1)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = (att @ val).transpose(1, 0, 2).reshape(t, d)
        x = x + o @ v[f"{p}/self_attention/linear_1/weight"].T + v[f"{p}/self_attention/linear_1/bias"]
        h = layer_norm(x, v[f"{p}/ffn/layer_norm/gamma"], v[f"{p}/ffn/layer_norm/beta"])
        h = gelu(h @ v[f"{p}/ffn/linear_0/weight"].T + v[f"{p}/ffn/linear_0/bias"])
        return (x + h @ v[f"{p}/ffn/linear_1/weight"].T + v[f"{p}/ffn/linear_1/bias"]).astype(np.float32)


class NumpyNoiseHead:
    """The noise head of a checkpoint folder (kind ``noise-head``) on a CTranslate2 Whisper's lower
    blocks: ``predict(audio)`` -> {"category", "probs", "snr"}, no torch involved."""

    def __init__(self, cfg: WhisperNoiseConfig, weights: dict[str, np.ndarray], encoder: LowerEncoder):
        if (encoder.d_model, encoder.n_mels) != (cfg.d_model, cfg.n_mels):
            raise CheckpointError(
                f"noise head for {cfg.whisper} (d_model {cfg.d_model}, {cfg.n_mels} mels) cannot use a Whisper "
                f"with d_model {encoder.d_model} and {encoder.n_mels} mels"
            )
        self.cfg, self.encoder = cfg, encoder
        self.w = {k: np.asarray(a, dtype=np.float32) for k, a in weights.items()}

    @classmethod
    def from_checkpoint(cls, folder: str | os.PathLike, whisper_arrays: dict[str, np.ndarray]) -> NumpyNoiseHead:
        """``folder``: a ``noise-head`` checkpoint (its sha256 verified); ``whisper_arrays``: the
        CTranslate2 Whisper's arrays (:func:`avsr.whisper.ct2_file.read_ct2`)."""
        from avsr.core.configs import from_dict
        from avsr.core.files import sha256
        from avsr.core.store import CONFIG, WEIGHTS, read_config, read_safetensors

        folder = Path(folder)
        meta = read_config(folder)
        if meta["kind"] != "noise-head":
            raise CheckpointError(f"{folder}: a {meta['kind']!r} checkpoint, not a noise head")
        if meta.get("sha256") and sha256(folder / WEIGHTS) != meta["sha256"]:
            raise CheckpointError(f"{folder / WEIGHTS}: sha256 does not match {CONFIG} (corrupt or replaced file)")
        cfg = from_dict(WhisperNoiseConfig, meta["config"])
        return cls(cfg, read_safetensors(folder / WEIGHTS), LowerEncoder(whisper_arrays, cfg.layers))

    def features(self, audio: np.ndarray) -> np.ndarray:
        """The frozen features of the first ``max_seconds`` of one 16 kHz clip: (T', d_model)
        frames, or (taps, 2 x d_model) pooled statistics for a ``stats`` head."""
        from avsr.whisper.mel_numpy import log_mel

        a = np.asarray(audio, dtype=np.float32)[: int(self.cfg.max_seconds * SAMPLE_RATE)]
        a = np.pad(a, (0, max(0, 2 * FRAME_SAMPLES - len(a))))
        mel = log_mel(a, self.cfg.n_mels)
        if self.cfg.pooling == "stats":
            return pooled_stats(self.encoder(mel, self.cfg.tapped))
        return self.encoder(mel)

    def logits(self, feats: np.ndarray) -> tuple[np.ndarray, float]:
        """Features -> (class logits (C,), SNR dB): the head's forward, in NumPy."""
        w = self.w
        if self.cfg.pooling == "stats":
            z = (feats.reshape(-1) - w["norm_mean"]) / w["norm_std"]
            h = gelu(z @ w["body.0.weight"].T + w["body.0.bias"])
            logits = h @ w["category.weight"].T + w["category.bias"]
            return logits, float((h @ w["snr.weight"].T + w["snr.bias"])[0]) * self.cfg.snr_scale
        x = layer_norm(feats, w["frame.0.weight"], w["frame.0.bias"])
        x = gelu(x @ w["frame.1.weight"].T + w["frame.1.bias"])
        x = x @ w["frame.4.weight"].T + w["frame.4.bias"]
        mean = x.mean(0)
        std = np.sqrt(np.maximum(((x - mean) ** 2).mean(0), 1e-6))
        pooled = gelu(np.concatenate([mean, std]))
        logits = pooled @ w["category.2.weight"].T + w["category.2.bias"]
        snr = float((pooled @ w["snr.1.weight"].T + w["snr.1.bias"])[0]) * self.cfg.snr_scale
        return logits, snr

    def predict(self, audio: np.ndarray) -> dict[str, Any]:
        logits, snr = self.logits(self.features(audio))
        return decision(self.cfg.classes, logits, snr)
