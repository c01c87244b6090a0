"""Thin Lightning wrappers for lip-reading training: the model is built elsewhere and passed in."""
from __future__ import annotations

import math
from dataclasses import dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader

from avsr.data.crops import AugmentConfig, CropDataset, FrameBudgetSampler, collate
from avsr.text import VOCAB
from avsr.vsr.decode import greedy_decode
from avsr.core.metrics import error_rate


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.03
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 1000
    min_lr_ratio: float = 0.01  # cosine decay to lr * min_lr_ratio at the last step


@dataclass(frozen=True)
class DataConfig:
    train: str = ""
    val: str = ""
    max_frames: int = 1800  # frames per batch and device (72 s of video)
    num_workers: int = 2
    augment: AugmentConfig = AugmentConfig()


def warmup_cosine(step: int, warmup: int, total: int, floor: float) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``floor``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def adamw_warmup_cosine(params, o: OptimConfig, total_steps: int) -> dict:
    """AdamW + per-step warm-up/cosine schedule, as Lightning's ``configure_optimizers`` returns
    it. ``params``: parameters or parameter groups."""
    opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, betas=tuple(o.betas))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, o.warmup_steps, total_steps, o.min_lr_ratio))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def fit_resumable(task: L.LightningModule, out, trainer_cfg: dict, max_steps: int, checkpoint_every: int, resume: bool,
                  callbacks: tuple = (), **fit_kw) -> L.Trainer:
    """Fit with OUT/lightning/last.ckpt saved every ``checkpoint_every`` steps and resumed from
    when it exists (``resume``); CSV logs in OUT/logs. ``trainer_cfg`` overrides the defaults."""
    from pathlib import Path

    out = Path(out)
    ckpt = L.pytorch.callbacks.ModelCheckpoint(dirpath=out / "lightning", save_last=True, save_top_k=0, every_n_train_steps=checkpoint_every)
    kw = {"max_steps": max_steps, "default_root_dir": str(out), "logger": L.pytorch.loggers.CSVLogger(str(out), name="logs")}
    kw.update(trainer_cfg)
    trainer = L.Trainer(callbacks=[ckpt, *callbacks], **kw)
    last = out / "lightning" / "last.ckpt"
    trainer.fit(task, ckpt_path=str(last) if resume and last.exists() else None, **fit_kw)
    return trainer


class VSRTask(L.LightningModule):
    """CTC training of a :class:`avsr.vsr.VSRModel`; validation reports phoneme error rate."""

    def __init__(self, model: torch.nn.Module, optim: OptimConfig, total_steps: int):
        super().__init__()
        self.model, self.optim, self.total_steps = model, optim, total_steps
        self._val: list[tuple[list[str], list[str]]] = []

    def _loss(self, batch) -> torch.Tensor:
        logits, out_len = self.model(batch["video"], batch["lengths"])
        lp = logits.log_softmax(-1)
        loss = torch.nn.functional.ctc_loss(
            lp.transpose(0, 1).float(), batch["targets"], out_len, batch["target_lengths"], blank=VOCAB.blank, zero_infinity=True
        )
        return loss, lp, out_len

    def training_step(self, batch, batch_idx):
        loss, _, _ = self._loss(batch)
        self.log("train/ctc", loss, prog_bar=True, batch_size=len(batch["ids"]), sync_dist=False)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, lp, out_len = self._loss(batch)
        self.log("val/ctc", loss, prog_bar=True, batch_size=len(batch["ids"]), sync_dist=True)
        targets = batch["targets"].split(batch["target_lengths"].tolist())
        for hyp, ref in zip(greedy_decode(lp, out_len), targets):
            self._val.append((VOCAB.decode(ref.tolist()), VOCAB.decode(hyp)))

    def on_validation_epoch_end(self):
        if self._val:
            per = error_rate([r for r, _ in self._val], [h for _, h in self._val])
            self.log("val/per", per, prog_bar=True, sync_dist=True)
        self._val.clear()

    def configure_optimizers(self):
        decay = [p for n, p in self.model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in self.model.named_parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": self.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        return adamw_warmup_cosine(groups, self.optim, self.total_steps)


class VSRDataModule(L.LightningDataModule):
    def __init__(self, cfg: DataConfig, time_stride: int, seed: int = 0):
        super().__init__()
        self.cfg, self.time_stride, self.seed = cfg, time_stride, seed

    def setup(self, stage: str | None = None) -> None:
        self.train_set = CropDataset(self.cfg.train, train=True, augment=self.cfg.augment, time_stride=self.time_stride)
        self.val_set = CropDataset(self.cfg.val, train=False, time_stride=self.time_stride) if self.cfg.val else None

    def _loader(self, ds: CropDataset, shuffle: bool) -> DataLoader:
        sampler = FrameBudgetSampler(ds.lengths, self.cfg.max_frames, shuffle=shuffle, seed=self.seed)
        w = self.cfg.num_workers
        return DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=w, persistent_workers=w > 0, pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self):
        return self._loader(self.val_set, shuffle=False) if self.val_set is not None else []
