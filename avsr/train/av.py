"""``avsr train av CONFIG``: train one adapter set (LoRA on the frozen Whisper, plus the fusion
for audio-visual sets) on speech mixed with one scenario's noise.

Only the set's parameters train (``AVWhisper.train_only``); Whisper stays frozen. Thin
Lightning wrappers: DDP / multi-node come from the Trainer's settings. The Lightning checkpoint
(OUTPUT/lightning/last.ckpt) holds the set's weights and the optimizer state, so an interrupted
run resumes; the finished set is written as OUTPUT/adapters/NAME (see :mod:`avsr.adapters.torch_bank`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from avsr.adapters.fusion import FusionConfig
from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
from avsr.core.media import MOUTH_CROP_SIZE
from avsr.core.padding import pad
from avsr.data.mixing import NoiseBank, NoiseConfig, read_sources
from avsr.data.speech import NoisySpeech, PackedNoisySpeech, read_split
from avsr.train.base import OptimConfig, RunConfig, adamw_warmup_cosine, fit_resumable
from avsr.whisper.load import is_multilingual, load_whisper

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AVDataConfig:
    train: tuple[str, ...] = ("data/speech/train.jsonl",)  # JSONL: id, audio, text[, target, crops, split]
    val: tuple[str, ...] = ()
    train_split: str = "train"  # records whose "split" is this (records without one: kept)
    val_split: str = "test"
    noise_sources: tuple[str, ...] = ("data/noise/sources.jsonl",)  # noise, music, crowd, talkers
    noise: NoiseConfig = NoiseConfig(split="train")
    val_noise: NoiseConfig = NoiseConfig(split="test", seed=1)
    repeats: int = 1  # each utterance this many times an epoch, each with its own noise
    max_seconds: float = 30.0
    pack_seconds: float = 0.0  # > 0: pack utterances into windows of this length (audio-only)
    text_key: str = "text"  # the target field ("target": self-distillation targets, else "text")
    batch_size: int = 4
    num_workers: int = 0


@dataclass(frozen=True)
class AVTrainConfig(RunConfig):
    whisper: str = "whisper-tiny.en"
    name: str = "babble"  # the adapter set's scenario name (its folder name)
    lora: LoraSetConfig = LoraSetConfig()
    fusion: FusionConfig = FusionConfig()  # used when lora.fusion
    data: AVDataConfig = AVDataConfig()
    optim: OptimConfig = OptimConfig(lr=1e-3, weight_decay=0.0, warmup_steps=10)
    output: str = "runs/av"
    checkpoint_every: int = 50


def labels_for(av: AVWhisper, texts: list[str]) -> torch.Tensor:
    """Decoder targets (B, L): the task prefix after the start token, the text, end-of-text;
    -100 on padding. The model prepends the start token itself. The tokenizer's prefix is set
    once by :func:`train_av` (English transcription, no timestamps)."""
    tok = av.processor.tokenizer
    seqs = [tok(" " + t.strip(), add_special_tokens=True)["input_ids"][1:] for t in texts]
    limit = int(av.whisper.config.max_target_positions) - 1  # the model prepends the start token
    for i, q in enumerate(seqs):
        if len(q) > limit:  # longer than Whisper's decoder can hold: keep its start and the end token
            log.warning("a target of %d tokens is cut to Whisper's %d: %.60s...", len(q), limit, texts[i])
            seqs[i] = q[: limit - 1] + q[-1:]
    out = torch.full((len(seqs), max(map(len, seqs))), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out


class AVTask(L.LightningModule):
    def __init__(self, av: AVWhisper, name: str, optim: OptimConfig, total_steps: int):
        super().__init__()
        self.av, self.name, self.optim, self.total_steps = av, name, optim, total_steps
        self.params = av.train_only(name)
        self.strict_loading = False  # checkpoints hold only the set's weights

    def _loss(self, batch) -> torch.Tensor:
        audio, _ = batch["audio"]
        mel = self.av.features(audio).to(self.device)
        crops, frames = batch["crops"]
        return self.av(mel, batch["labels"].to(self.device), crops, frames)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self._loss(batch), prog_bar=True, batch_size=len(batch["ids"]), sync_dist=True)

    def on_train_epoch_start(self) -> None:
        self.trainer.train_dataloader.dataset.epoch = self.current_epoch

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        keep = {n for n, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}

    def configure_optimizers(self):
        return adamw_warmup_cosine(self.params, self.optim, self.total_steps)


def _loader(av: AVWhisper, ds: NoisySpeech, batch_size: int, shuffle: bool, workers: int, seed: int) -> DataLoader:
    def collate(items):
        return {
            "ids": [it["id"] for it in items],
            "audio": pad([it["audio"] for it in items]),
            "crops": pad([it["crops"] for it in items], torch.uint8, (MOUTH_CROP_SIZE, MOUTH_CROP_SIZE)),
            "labels": labels_for(av, [it["text"] for it in items]),
        }

    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, num_workers=workers, generator=g)


def _dataset(d: AVDataConfig, records: list, bank: NoiseBank, train: bool, seed: int) -> NoisySpeech:
    if d.pack_seconds > 0:
        return PackedNoisySpeech(records, bank, train, d.pack_seconds, text_key=d.text_key, seed=seed)
    return NoisySpeech(records, bank, train, d.repeats if train else 1, d.max_seconds, text_key=d.text_key)


def train_av(cfg: AVTrainConfig, whisper=None) -> Path:
    """Fit the set and return its folder. ``whisper`` = (model, processor) skips loading
    ``cfg.whisper`` (tests pass a tiny model)."""
    L.seed_everything(cfg.seed, workers=True)
    model, proc = whisper if whisper is not None else load_whisper(cfg.whisper)
    av = AVWhisper(model, proc, cfg.whisper)
    if is_multilingual(model):
        proc.tokenizer.set_prefix_tokens(language="en", task="transcribe", predict_timestamps=False)
    d = cfg.data
    sources = read_sources(d.noise_sources)
    info = {
        "noise": {
            "categories": list(d.noise.categories),
            "snr": list(d.noise.snr),
            "snr_values": list(d.noise.snr_values),
        },
        "trained_with": cfg.to_dict(),
    }
    av.add_set(cfg.name, cfg.lora, cfg.fusion if cfg.lora.fusion else None, info)
    train = _dataset(d, read_split(d.train, d.train_split), NoiseBank(sources, d.noise), True, cfg.seed)
    train_dl = _loader(av, train, d.batch_size, True, d.num_workers, cfg.seed)
    val_dl = None
    if d.val:
        val = _dataset(d, read_split(d.val, d.val_split), NoiseBank(sources, d.val_noise), False, cfg.seed)
        val_dl = _loader(av, val, d.batch_size, False, 0, cfg.seed)
    max_steps = int(cfg.trainer.get("max_steps", 500))
    task = AVTask(av, cfg.name, cfg.optim, max_steps)
    out = Path(cfg.output)
    trainer = fit_resumable(task, cfg, max_steps, train_dataloaders=train_dl, val_dataloaders=val_dl)
    folder = out / "adapters" / cfg.name
    if trainer.is_global_zero:
        av.meta[cfg.name]["steps"] = trainer.global_step
        av.save_set(cfg.name, folder)
    return folder
