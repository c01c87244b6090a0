"""``avsr train noise CONFIG``: the noise classifier on speech mixed with train-split noise.

Each example is an utterance (cropped to ``max_seconds``) left clean with probability
``noise.clean_prob`` or mixed with a category and SNR drawn per utterance and epoch. Loss:
cross-entropy over the classes + ``snr_weight`` x smooth-L1 on SNR / snr_scale (clean examples
carry no SNR target). The result is a self-describing checkpoint (``avsr.load_model``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from avsr.core.manifest import read_manifest
from avsr.core.padding import pad
from avsr.core.store import save_checkpoint
from avsr.data.mixing import NoiseBank, NoiseConfig, read_sources
from avsr.data.speech import NoisySpeech
from avsr.noise.logmel_classifier import NoiseClassifier, NoiseClassifierConfig
from avsr.train.base import OptimConfig, RunConfig, adamw_warmup_cosine, fit_resumable


@dataclass(frozen=True)
class NoiseDataConfig:
    train: str = "data/speech/train.jsonl"
    val: str = ""
    noise_sources: str = "data/noise/sources.jsonl"
    noise: NoiseConfig = NoiseConfig(split="train", snr=(-10.0, 30.0), clean_prob=0.15)
    val_noise: NoiseConfig = NoiseConfig(split="test", snr=(-10.0, 30.0), clean_prob=0.15, seed=1)
    repeats: int = 8
    batch_size: int = 16
    num_workers: int = 0


@dataclass(frozen=True)
class NoiseTrainConfig(RunConfig):
    model: NoiseClassifierConfig = NoiseClassifierConfig()
    data: NoiseDataConfig = NoiseDataConfig()
    optim: OptimConfig = OptimConfig(lr=5e-4, weight_decay=0.01, warmup_steps=20)
    snr_weight: float = 1.0
    output: str = "runs/noise"


def collate_mels(model: NoiseClassifier):
    classes = list(model.cfg.classes)

    def collate(items):
        mels = [model.features(it["audio"]) for it in items]  # (80, frames) each
        x, frames = pad([m.T for m in mels])
        snr = torch.tensor([float("nan") if it["snr"] is None else it["snr"] for it in items])
        return {
            "mel": x.transpose(1, 2),
            "frames": frames,
            "label": torch.tensor([classes.index(it["category"]) for it in items]),
            "snr": snr,
        }

    return collate


def noise_loss(model, batch, snr_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy + ``snr_weight`` x smooth-L1 on the SNR of noisy examples, accuracy) of a
    noise classifier or head on ``batch`` (``mel`` features, ``frames``, ``label``, ``snr``)."""
    logits, snr = model(batch["mel"], batch["frames"])
    ce = torch.nn.functional.cross_entropy(logits, batch["label"])
    has = ~torch.isnan(batch["snr"])
    scale = model.cfg.snr_scale
    reg = (
        torch.nn.functional.smooth_l1_loss(snr[has] / scale, batch["snr"][has] / scale)
        if bool(has.any())
        else snr.sum() * 0
    )
    return ce + snr_weight * reg, (logits.argmax(-1) == batch["label"]).float().mean()


class NoiseTask(L.LightningModule):
    def __init__(self, model: NoiseClassifier, optim: OptimConfig, snr_weight: float, total_steps: int):
        super().__init__()
        self.model, self.optim, self.snr_weight, self.total_steps = model, optim, snr_weight, total_steps

    def _step(self, batch, stage: str):
        loss, acc = noise_loss(self.model, batch, self.snr_weight)
        n = len(batch["label"])
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=n, sync_dist=stage == "val")
        self.log(f"{stage}/acc", acc, prog_bar=True, batch_size=n, sync_dist=stage == "val")
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def on_train_epoch_start(self) -> None:
        self.trainer.train_dataloader.dataset.epoch = self.current_epoch

    def configure_optimizers(self):
        return adamw_warmup_cosine(self.model.parameters(), self.optim, self.total_steps)


def train_noise(cfg: NoiseTrainConfig) -> Path:
    """Fit the classifier; returns the checkpoint folder OUTPUT/final."""
    L.seed_everything(cfg.seed, workers=True)
    d = cfg.data
    model = NoiseClassifier(cfg.model)
    sources = read_sources(d.noise_sources)
    collate = collate_mels(model)
    train = NoisySpeech(read_manifest(d.train), NoiseBank(sources, d.noise), True, d.repeats, cfg.model.max_seconds)
    g = torch.Generator().manual_seed(cfg.seed)
    train_dl = DataLoader(
        train, batch_size=d.batch_size, shuffle=True, collate_fn=collate, num_workers=d.num_workers, generator=g
    )
    val_dl = None
    if d.val:
        val = NoisySpeech(read_manifest(d.val), NoiseBank(sources, d.val_noise), False, 1, cfg.model.max_seconds)
        val_dl = DataLoader(val, batch_size=d.batch_size, collate_fn=collate)
    max_steps = int(cfg.trainer.get("max_steps", 1000))
    task = NoiseTask(model, cfg.optim, cfg.snr_weight, max_steps)
    out = Path(cfg.output)
    trainer = fit_resumable(task, cfg, max_steps, train_dataloaders=train_dl, val_dataloaders=val_dl)
    final = out / "final"
    if trainer.is_global_zero:
        save_checkpoint(
            final,
            copy.deepcopy(task.model).cpu(),
            "noise",
            cfg.model.to_dict(),
            {"trained_with": cfg.to_dict(), "steps": trainer.global_step},
        )
    return final
