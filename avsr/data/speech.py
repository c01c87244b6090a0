"""A dataset of noisy speech: manifest utterances mixed with a :class:`NoiseBank` on the fly.

Training draws fresh noise every epoch (the draw is keyed by utterance, epoch and repeat);
validation and evaluation keep one fixed draw per utterance. Audio-visual records carry
``crops`` (the ``.roi.mkv`` written by ``avsr roi``), read as (T, 88, 88) uint8 centre crops.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from avsr.core.audio import read_audio
from avsr.core.manifest import read_manifest
from avsr.core.media import SAMPLE_RATE
from avsr.core.video import centre_mouth, read_crops
from avsr.data.mixing import NoiseBank


def read_split(paths: str | os.PathLike | Sequence[str | os.PathLike], split: str) -> list[dict[str, Any]]:
    """The records of one or more manifests whose ``split`` is ``split`` (records without a
    ``split`` field are kept: a manifest of one split). ValueError when none is left."""
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    recs = [r for p in paths for r in read_manifest(p) if r.get("split", split) == split]
    if not recs:
        raise ValueError(f"no {split!r} records in {', '.join(map(str, paths))}")
    return recs


class NoisySpeech(Dataset):
    """Items: {"id", "audio" (float32 mixture), "text", "category", "snr", "crops" or None}."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        bank: NoiseBank | None,
        train: bool,
        repeats: int = 1,
        max_seconds: float | None = None,
        category: str | None = None,
        snr: float | None = None,
        text_key: str = "text",
    ):
        if not records:
            raise ValueError("no utterances")
        self.records, self.bank, self.train, self.repeats = records, bank, train, max(1, repeats)
        self.max_samples = int(max_seconds * SAMPLE_RATE) if max_seconds else None
        self.category, self.snr, self.text_key = category, snr, text_key
        self.epoch = 0
        self._audio: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records) * self.repeats

    def clean(self, r: dict[str, Any]) -> np.ndarray:
        if r["id"] not in self._audio:
            a = read_audio(r["audio"])
            if a is None or len(a) == 0:
                raise ValueError(f"{r['audio']}: no audio")
            self._audio[r["id"]] = a
        a = self._audio[r["id"]]
        return a[: self.max_samples] if self.max_samples else a

    def __getitem__(self, i: int) -> dict[str, Any]:
        r = self.records[i % len(self.records)]
        a = self.clean(r)
        key = f"{r['id']}#{self.epoch}:{i // len(self.records)}" if self.train else r["id"]
        info: dict[str, Any] = {"category": "clean", "snr": None}
        if self.bank is not None:
            a, drawn = self.bank.corrupt(key, a, self.category, self.snr)
            info = {"category": drawn["category"], "snr": drawn["snr"]}
        crops = centre_mouth(read_crops(r["crops"])) if r.get("crops") else None
        text = r.get(self.text_key) or r.get("text", "")
        return {"id": r["id"], "audio": a, "text": text, **info, "crops": crops}


class PackedNoisySpeech(NoisySpeech):
    """Several utterances packed into one window of at most ``window_seconds`` (Whisper computes
    a 30 s window whatever the input length, so packing short prompts uses that compute), each
    followed by a seeded silence of ``gap`` seconds; the texts are joined by spaces. The noise
    is drawn for the whole window, its SNR measured over the window. ``text_key`` picks the
    target field (``target``: self-distillation targets, falling back to ``text``). Packing is
    redrawn every epoch (training) or fixed (evaluation); an utterance longer than the window
    is cut to it and fills a window alone."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        bank: NoiseBank | None,
        train: bool,
        window_seconds: float = 28.0,
        gap: tuple[float, float] = (0.2, 0.8),
        text_key: str = "text",
        seed: int = 0,
    ):
        super().__init__(records, bank, train, 1, window_seconds, text_key=text_key)
        self.window, self.gap, self.seed = int(window_seconds * SAMPLE_RATE), gap, seed
        self._packs: dict[int, list[list[tuple[int, int]]]] = {}

    def _seconds(self, r: dict[str, Any]) -> float:
        s = r.get("seconds") or r.get("duration")
        return float(s) if s else len(self.clean(r)) / SAMPLE_RATE

    def packs(self, epoch: int) -> list[list[tuple[int, int]]]:
        """Windows as lists of (record index, gap samples after it) for ``epoch``."""
        if epoch not in self._packs:
            rng = np.random.default_rng([self.seed, epoch if self.train else 0])
            order = rng.permutation(len(self.records)) if self.train else np.arange(len(self.records))
            out: list[list[tuple[int, int]]] = []
            cur: list[tuple[int, int]] = []
            used = 0
            for i in order:
                n = min(self.window, int(self._seconds(self.records[int(i)]) * SAMPLE_RATE))
                g = int(rng.uniform(*self.gap) * SAMPLE_RATE)
                if cur and used + n > self.window:
                    out.append(cur)
                    cur, used = [], 0
                cur.append((int(i), g))
                used += n + g
            if cur:
                out.append(cur)
            self._packs = {epoch: out}
        return self._packs[epoch]

    def __len__(self) -> int:
        return len(self.packs(self.epoch if self.train else 0))

    def __getitem__(self, i: int) -> dict[str, Any]:
        pack = self.packs(self.epoch if self.train else 0)[i]
        pieces, texts, ids = [], [], []
        for j, g in pack:
            r = self.records[j]
            pieces += [self.clean(r), np.zeros(g, np.float32)]
            texts.append(str(r.get(self.text_key) or r.get("text", "")).strip())
            ids.append(r["id"])
        a = np.concatenate(pieces)[: self.window]
        key = "+".join(ids) + (f"#{self.epoch}" if self.train else "")
        info: dict[str, Any] = {"category": "clean", "snr": None}
        if self.bank is not None:
            a, drawn = self.bank.corrupt(key, a, self.category, self.snr)
            info = {"category": drawn["category"], "snr": drawn["snr"]}
        return {"id": key, "audio": a, "text": " ".join(t for t in texts if t), **info, "crops": None}
