"""Mouth-crop datasets for lip reading: manifest lines -> (video, phoneme targets) batches.

Reads the ROI stage's outputs (``roi`` crops + ``text`` or ``phonemes``). Targets are phoneme
ids of :data:`avsr.text.VOCAB`; a line without ``phonemes`` gets them from G2P of its ``text``.
Batches are filled up to a frame budget (similar lengths together) rather than a fixed count.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from avsr.core.jsonl import read_jsonl
from avsr.core.manifest import resolve_path
from avsr.core.media import MOUTH_CROP_SIZE
from avsr.core.padding import pad
from avsr.core.video import read_crops, rgb_to_gray
from avsr.text import VOCAB, g2p_many, normalize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation. Evaluation always takes the centre crop and nothing else."""

    enabled: bool = True
    crop: int = MOUTH_CROP_SIZE  # random crop side (centre crop at evaluation)
    flip: float = 0.5  # probability of a horizontal flip
    time_masks_per_second: float = 1.0  # Auto-AVSR-style time masking
    max_mask_frames: int = 10  # each mask covers 0..10 frames (0.4 s at 25 fps)


def ctc_min_frames(target: list[int]) -> int:
    """Fewest CTC output frames that can emit ``target``: one per label, plus a blank between
    each pair of equal neighbours."""
    return len(target) + sum(1 for a, b in zip(target, target[1:]) if a == b)


def check_ctc_feasible(clip_id: str, frames: int, target: list[int], time_stride: int) -> None:
    """Raise ValueError when a clip is too short for its target after temporal downsampling."""
    out = math.ceil(frames / time_stride)
    need = ctc_min_frames(target)
    if out < need:
        raise ValueError(
            f"{clip_id}: {frames} frames give {out} outputs after {time_stride}x temporal downsampling, "
            f"fewer than the {need} its {len(target)}-phoneme target needs for CTC"
        )


def record_phonemes(records: list[dict[str, Any]]) -> list[list[str]]:
    """Phonemes of each manifest record: its ``phonemes`` (list or space-separated string), or
    G2P of its ``text`` (all records' unknown words in one G2P fallback call)."""
    given = [r.get("phonemes") for r in records]
    given = [p.split() if isinstance(p, str) else p for p in given]
    need = [i for i, p in enumerate(given) if not p]
    for i, ph in zip(need, g2p_many([records[i].get("text", "") for i in need])):
        if not ph:
            raise ValueError(f"{records[i].get('id')}: manifest line has neither 'phonemes' nor 'text'")
        given[i] = ph
    return given


def with_phonemes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with ``phonemes`` as a list and ``text`` normalised."""
    return [{**r, "phonemes": ph, "text": normalize(r["text"])} for r, ph in zip(records, record_phonemes(records))]


def phoneme_targets(records: list[dict[str, Any]]) -> list[list[int]]:
    """CTC target ids of each record (see :func:`record_phonemes`)."""
    return [VOCAB.encode(ph) for ph in record_phonemes(records)]


class CropDataset(Dataset):
    """Items of one manifest: dict(id, video (T, S, S) uint8 tensor, target (L,) long)."""

    def __init__(
        self,
        manifest: str | os.PathLike,
        train: bool = False,
        augment: AugmentConfig | None = None,
        time_stride: int = 1,
    ):
        manifest = Path(manifest)
        records = list(read_jsonl(manifest))
        if not records:
            raise ValueError(f"{manifest}: manifest is empty or missing")
        targets = phoneme_targets(records)
        self.items = []
        dropped = []
        for r, tgt in zip(records, targets):
            try:
                check_ctc_feasible(r["id"], int(r["frames"]), tgt, time_stride)
            except ValueError as e:
                dropped.append(str(e))
                continue
            self.items.append(
                (r["id"], resolve_path(manifest.parent, r["roi"]), int(r["frames"]), tgt, r.get("text", ""))
            )
        if dropped:
            log.warning(
                "%s: dropped %d clip(s) too short for their targets, e.g. %s", manifest, len(dropped), dropped[0]
            )
        if not self.items:
            raise ValueError(f"{manifest}: no usable clip ({len(dropped)} too short for their targets: {dropped[:1]})")
        self.train = train
        self.aug = augment or AugmentConfig()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def lengths(self) -> list[int]:
        return [it[2] for it in self.items]

    def __getitem__(self, i: int) -> dict[str, Any]:
        clip_id, path, _, target, text = self.items[i]
        video = read_crops(path)
        if video.ndim == 4:  # RGB crops for a grey model: luma
            video = rgb_to_gray(video)
        # torch's RNG is seeded per worker and epoch by the DataLoader (and by Lightning's seed)
        rng = np.random.default_rng(int(torch.randint(2**31 - 1, ()).item())) if self.train else None
        video = augment_clip(video, self.aug, rng)
        return {
            "id": clip_id,
            "video": torch.from_numpy(np.ascontiguousarray(video)),
            "target": torch.tensor(target),
            "text": text,
        }


def augment_clip(video: np.ndarray, aug: AugmentConfig, rng: np.random.Generator | None) -> np.ndarray:
    """(T, S, S) -> (T, crop, crop). With ``rng`` (training): random crop, flip, time masks;
    without: centre crop only."""
    t, h, w = video.shape
    c = aug.crop
    if rng is None or not aug.enabled:
        y, x = (h - c) // 2, (w - c) // 2
        return video[:, y : y + c, x : x + c]
    y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
    out = video[:, y : y + c, x : x + c].copy()
    if rng.random() < aug.flip:
        out = out[:, :, ::-1]
    n_masks = int(aug.time_masks_per_second * t / 25)
    fill = out.mean().astype(np.uint8)
    for _ in range(n_masks):
        width = int(rng.integers(0, aug.max_mask_frames + 1))
        start = int(rng.integers(0, max(1, t - width)))
        out[start : start + width] = fill
    return out


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Pad videos to the longest (zeros); concatenate targets for CTC."""
    video, lengths = pad([it["video"] for it in items])
    targets = [it["target"] for it in items]
    return {
        "ids": [it["id"] for it in items],
        "texts": [it["text"] for it in items],
        "video": video,
        "lengths": lengths,
        "targets": torch.cat(targets),
        "target_lengths": torch.tensor([len(t) for t in targets]),
    }


class FrameBudgetSampler(Sampler[list[int]]):
    """Batches of similar-length clips holding at most ``max_frames`` frames in all (a clip
    longer than the budget gets a batch of its own). Sharded across DDP ranks: every rank gets
    the same number of batches each epoch, so no rank waits on another at the end."""

    def __init__(
        self,
        lengths: list[int],
        max_frames: int,
        shuffle: bool,
        seed: int = 0,
        rank: int | None = None,
        world: int | None = None,
    ):
        self.lengths, self.max_frames, self.shuffle, self.seed = lengths, max_frames, shuffle, seed
        self.rank, self.world = rank, world  # None: read from torch.distributed when batches are made
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard(self) -> tuple[int, int]:
        if self.world is not None:
            return self.rank or 0, self.world
        dist = torch.distributed
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        return (dist.get_rank() if world > 1 else 0), world

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed + self.epoch)
        ties = [rng.random() for _ in self.lengths] if self.shuffle else [0.0] * len(self.lengths)
        order = sorted(
            range(len(self.lengths)), key=lambda i: (self.lengths[i], ties[i])
        )  # equal lengths mix anew each epoch
        batches, cur, frames = [], [], 0
        for i in order:
            if cur and frames + self.lengths[i] > self.max_frames:
                batches.append(cur)
                cur, frames = [], 0
            cur.append(i)
            frames += self.lengths[i]
        if cur:
            batches.append(cur)
        if self.shuffle:
            rng.shuffle(batches)
        rank, world = self._shard()
        if world > 1:  # pad by repeating, then deal out
            while len(batches) % world:
                batches.append(batches[len(batches) % max(1, len(batches))])
            batches = batches[rank::world]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())
