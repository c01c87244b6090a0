"""A dataset of noisy speech: manifest utterances mixed with a :class:`NoiseBank` on the fly.

Training draws fresh noise every epoch (the draw is keyed by utterance, epoch and repeat);
validation and evaluation keep one fixed draw per utterance. Audio-visual records carry
``crops`` (the ``.roi.mkv`` written by ``avsr roi``), read as (T, 88, 88) uint8 centre crops.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from avsr.data.mixing import NoiseBank
from avsr.core.media import MOUTH_CROP_SIZE, SAMPLE_RATE
from avsr.core.video import centre_mouth, read_crops
from avsr.core.audio import read_audio


class NoisySpeech(Dataset):
    """Items: {"id", "audio" (float32 mixture), "text", "category", "snr", "crops" or None}."""

    def __init__(self, records: list[dict[str, Any]], bank: NoiseBank | None, train: bool, repeats: int = 1, max_seconds: float | None = None,
                 category: str | None = None, snr: float | None = None):
        if not records:
            raise ValueError("no utterances")
        self.records, self.bank, self.train, self.repeats = records, bank, train, max(1, repeats)
        self.max_samples = int(max_seconds * SAMPLE_RATE) if max_seconds else None
        self.category, self.snr = category, snr
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
            a, info = self.bank.corrupt(key, a, self.category, self.snr)
        crops = centre_mouth(read_crops(r["crops"])) if r.get("crops") else None
        return {"id": r["id"], "audio": a, "text": r.get("text", ""), **info, "crops": crops}
