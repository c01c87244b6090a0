"""``avsr train noise-head CONFIG``: the noise head on the frozen Whisper's lower layers.

The features are frozen, so they are computed once: ``examples`` mixtures of train speech
(several utterances packed into ``seconds``) with train-split noise, clean for ``clean_prob``
of them, each category equally often, the SNR uniform in ``snr``; the same for ``val`` from the
held-out speakers and test-split noise. They are cached (OUTPUT/features-{train,val}.pt,
float16, reused by a rerun with the same data settings), then the head trains for many epochs
over them in seconds a step (:class:`avsr.train.classifier.NoiseTask`, the log-mel classifier's
task: cross-entropy + smooth-L1 on SNR).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from avsr.core.padding import pad
from avsr.core.store import save_checkpoint
from avsr.data.channel import ChannelConfig, apply_channel
from avsr.data.mixing import NoiseBank, NoiseConfig, read_sources
from avsr.data.phoneme_errors import sentence_rng
from avsr.data.speech import NoisySpeech, read_split
from avsr.noise.head_torch import NoiseHead, WhisperNoiseConfig
from avsr.train.base import OptimConfig, RunConfig, fit_resumable
from avsr.train.classifier import NoiseTask


@dataclass(frozen=True)
class HeadDataConfig:
    train: tuple[str, ...] = ("data/audio_corpus/speech_en.jsonl",)
    val: tuple[str, ...] = ("data/audio_corpus/speech_en.jsonl",)
    train_split: str = "train"  # records whose "split" is this (records without one: kept)
    val_split: str = "test"
    noise_sources: tuple[str, ...] = ("data/audio_corpus/noise_sources.jsonl", "data/audio_corpus/talkers.jsonl")
    examples: int = 4000
    val_examples: int = 600
    seconds: tuple[float, float] = (3.0, 10.0)  # length of one example (utterances packed to it)
    snr: tuple[float, float] = (-10.0, 25.0)
    clean_prob: float = 0.2
    # share of examples low-passed at a random cutoff (a channel: telephone, MP3, 11/16 kHz
    # sources), so that bandwidth, which differs between the packages, is no cue to the class
    lowpass_prob: float = 0.5
    lowpass_hz: tuple[float, float] = (3400.0, 7500.0)
    # every example gets a recording floor: train-split noise at this SNR (real recordings are
    # never digitally silent between words; without it "silent pauses" meant "clean")
    floor_snr: tuple[float, float] = (30.0, 50.0)
    # share of examples sent through a drawn recording channel (room, EQ, band limits, codec,
    # level: avsr.data.channel), drawn independently of the category; rirs: impulse responses
    channel_prob: float = 0.0
    rirs: tuple[str, ...] = ()
    babble_talkers: tuple[int, int] = (4, 10)
    batch_size: int = 64


@dataclass(frozen=True)
class NoiseHeadTrainConfig(RunConfig):
    model: WhisperNoiseConfig = WhisperNoiseConfig()
    data: HeadDataConfig = HeadDataConfig()
    optim: OptimConfig = OptimConfig(lr=1e-3, weight_decay=0.01, warmup_steps=50)
    snr_weight: float = 1.0
    output: str = "runs/noise-head"


def example(
    speech: NoisySpeech, bank: NoiseBank, key: str, d: HeadDataConfig
) -> tuple[np.ndarray, str, float | None, list[str]]:
    """One mixture for ``key`` (seeded): utterances packed to a drawn length over a faint
    recording floor, then clean or one category at a drawn SNR, then low-passed or not, then
    through a drawn recording channel or not; also the noise's source packages."""
    rng = sentence_rng(bank.cfg.seed, key)
    n = int(rng.uniform(*d.seconds) * 16000)
    pieces, have = [], 0
    while have < n:
        r = speech.records[int(rng.integers(len(speech.records)))]
        a = speech.clean(r)
        pieces += [a, np.zeros(int(rng.uniform(0.1, 0.5) * 16000), np.float32)]
        have += len(a) + len(pieces[-1])
    clip = np.concatenate(pieces)[:n]
    clip, _ = bank.corrupt(f"{key}|floor", clip, "noise", float(rng.uniform(*d.floor_snr)))
    cat, snr, packages = "clean", None, []
    if rng.random() >= d.clean_prob:
        cat = bank.cfg.categories[int(rng.integers(len(bank.cfg.categories)))]
        snr = float(rng.uniform(*d.snr))
        clip, info = bank.corrupt(key, clip, cat, snr)
        packages = info["packages"]
    if rng.random() < d.lowpass_prob:
        clip = lowpass(clip, float(rng.uniform(*d.lowpass_hz)))
    if d.channel_prob and rng.random() < d.channel_prob:
        clip, _ = apply_channel(clip, rng, ChannelConfig(rirs=tuple(d.rirs)))
    return clip, cat, snr, packages


def lowpass(x: np.ndarray, hz: float) -> np.ndarray:
    """``x`` with everything above ``hz`` removed (an ideal filter, in the frequency domain)."""
    spec = np.fft.rfft(x)
    spec[int(hz / 16000 * len(x)) :] = 0
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def feature_signature(cfg: WhisperNoiseConfig, d: HeadDataConfig, n: int, tag: str, utterances: int) -> str:
    """What the cached features depend on (the data settings and the frozen feature extractor,
    not the head's own sizes or dropout): a cache with another signature is recomputed."""
    data = {k: v for k, v in asdict(d).items() if k != "batch_size"}
    keys = ("whisper", "layers", "d_model", "n_mels", "max_seconds", "classes", "pooling", "taps")
    feats = {k: getattr(cfg, k) for k in keys}
    blob = json.dumps([data, feats, n, tag, utterances], sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cache_features(
    head: NoiseHead, speech: NoisySpeech, bank: NoiseBank, n: int, d: HeadDataConfig, path: Path, tag: str
) -> dict[str, Any]:
    """``n`` examples' frozen features (float16), labels and SNRs, cached at ``path``."""
    from tqdm import tqdm

    sig = feature_signature(head.cfg, d, n, tag, len(speech.records))
    if path.is_file():
        c = torch.load(path, weights_only=True)
        if c.get("signature") == sig:
            return c
    feats, labels, snrs, packages = [], [], [], []
    classes = list(head.cfg.classes)
    for i in tqdm(range(n), desc=f"features ({tag})", unit="clip"):
        audio, cat, snr, pk = example(speech, bank, f"{tag}:{i}", d)
        feats.append(head.features(audio).half())
        labels.append(classes.index(cat))
        snrs.append(float("nan") if snr is None else snr)
        packages.append(pk)
    c = {"signature": sig, "feats": feats, "label": torch.tensor(labels), "snr": torch.tensor(snrs)}
    c["packages"] = packages  # the noise's source packages per example (leave-one-package-out)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(c, path)
    return c


class _Cached(torch.utils.data.Dataset):
    def __init__(self, c: dict[str, Any]):
        self.c = c

    def __len__(self) -> int:
        return len(self.c["feats"])

    def __getitem__(self, i: int):
        return self.c["feats"][i], self.c["label"][i], self.c["snr"][i]


def _collate(items):
    x, frames = pad([f.float() for f, _, _ in items])
    return {
        "mel": x,
        "frames": frames,
        "label": torch.stack([t[1] for t in items]),
        "snr": torch.stack([t[2] for t in items]),
    }


def cached_split(cfg: NoiseHeadTrainConfig, head: NoiseHead, tag: str) -> dict[str, Any]:
    """The cached features of ``tag`` (``train``: train speech x train-split noise; ``val``:
    held-out speech x test-split noise), computed once into OUTPUT/features-TAG.pt."""
    d = cfg.data
    paths, split, n, seed = (
        (d.train, d.train_split, d.examples, cfg.seed)
        if tag == "train"
        else (d.val, d.val_split, d.val_examples, cfg.seed + 1)
    )
    cats = tuple(c for c in cfg.model.classes if c != "clean")
    noise = NoiseConfig(categories=cats, split=split, seed=seed, babble_talkers=d.babble_talkers)
    bank = NoiseBank(read_sources(d.noise_sources), noise)
    speech = NoisySpeech(read_split(paths, split), None, False, max_seconds=d.seconds[1])
    return cache_features(head, speech, bank, n, d, Path(cfg.output) / f"features-{tag}.pt", tag)


def train_noise_head(cfg: NoiseHeadTrainConfig, whisper=None) -> Path:
    """Fit the head; returns its checkpoint folder OUTPUT/final. ``whisper``: the loaded model
    (default: ``cfg.model.whisper`` through :func:`avsr.whisper.load.load_whisper`)."""
    from avsr.whisper.load import load_whisper

    L.seed_everything(cfg.seed, workers=True)
    d, out = cfg.data, Path(cfg.output)
    model = whisper if whisper is not None else load_whisper(cfg.model.whisper)[0]
    head = NoiseHead(cfg.model).attach(model.eval())
    data = {tag: cached_split(cfg, head, tag) for tag in ("train", "val")}
    head.fit_norm(data["train"]["feats"])
    g = torch.Generator().manual_seed(cfg.seed)
    train_dl = DataLoader(_Cached(data["train"]), d.batch_size, shuffle=True, collate_fn=_collate, generator=g)
    val_dl = DataLoader(_Cached(data["val"]), d.batch_size, collate_fn=_collate)
    max_steps = int(cfg.trainer.get("max_steps", 2000))
    task = NoiseTask(head, cfg.optim, cfg.snr_weight, max_steps)
    trainer = fit_resumable(task, cfg, max_steps, train_dataloaders=train_dl, val_dataloaders=val_dl)
    final = out / "final"
    if trainer.is_global_zero:
        extra = {"trained_with": cfg.to_dict(), "steps": trainer.global_step}
        save_checkpoint(final, task.model.cpu(), "noise-head", cfg.model.to_dict(), extra)
    return final
