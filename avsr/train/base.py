"""What the four training recipes share: the run-config base (:class:`RunConfig`), AdamW with
warm-up + cosine decay, and a resumable Lightning fit. Each recipe (:mod:`avsr.train.vsr`,
``p2t``, ``av``, ``classifier``) is a thin LightningModule around a model built elsewhere."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import lightning as L
import torch


@dataclass(frozen=True)
class RunConfig:
    """The fields every training run has; a recipe's config derives from it and adds ``model``,
    ``data``, ``optim``. ``trainer``: lightning.Trainer keyword arguments (devices, strategy,
    num_nodes, max_steps, ...)."""

    trainer: dict[str, Any] = field(default_factory=dict)
    output: str = "runs/run"
    seed: int = 42
    resume: bool = True  # continue from OUTPUT/lightning/last.ckpt when it exists
    checkpoint_every: int = 100  # steps between resumable Lightning checkpoints

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.03
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 1000
    min_lr_ratio: float = 0.01  # cosine decay to lr * min_lr_ratio at the last step


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
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, o.warmup_steps, total_steps, o.min_lr_ratio)
    )
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def fit_resumable(
    task: L.LightningModule,
    run: RunConfig,
    max_steps: int,
    trainer: dict | None = None,
    callbacks: tuple = (),
    **fit_kw,
) -> L.Trainer:
    """Fit with OUTPUT/lightning/last.ckpt saved every ``run.checkpoint_every`` steps and resumed
    from when it exists (``run.resume``); CSV logs in OUTPUT/logs. ``trainer`` (default
    ``run.trainer``): lightning.Trainer keyword arguments over the defaults."""
    from pathlib import Path

    out = Path(run.output)
    trainer_cfg, checkpoint_every, resume = (
        run.trainer if trainer is None else trainer,
        run.checkpoint_every,
        run.resume,
    )
    ckpt = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=out / "lightning", save_last=True, save_top_k=0, every_n_train_steps=checkpoint_every
    )
    kw = {
        "max_steps": max_steps,
        "default_root_dir": str(out),
        "logger": L.pytorch.loggers.CSVLogger(str(out), name="logs"),
    }
    kw.update(trainer_cfg)
    trainer = L.Trainer(callbacks=[ckpt, *callbacks], **kw)
    last = out / "lightning" / "last.ckpt"
    trainer.fit(task, ckpt_path=str(last) if resume and last.exists() else None, **fit_kw)
    return trainer
