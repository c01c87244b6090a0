"""``avsr train vsr CONFIG [key=value ...]``: config -> model, data, Lightning Trainer -> fit ->
averaged final checkpoint. Multi-GPU / multi-node is Lightning's: set ``trainer.devices``,
``trainer.num_nodes``, ``trainer.strategy`` (torchrun and SLURM are detected by Lightning;
neither is required)."""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from avsr.core.metrics import error_rate
from avsr.core.store import save_checkpoint
from avsr.data.crops import AugmentConfig, CropDataset, FrameBudgetSampler, collate
from avsr.text import VOCAB
from avsr.train.base import OptimConfig, RunConfig, adamw_warmup_cosine, fit_resumable
from avsr.vsr.decode import greedy_decode
from avsr.vsr.model import PRESETS, VSRConfig, VSRModel


@dataclass(frozen=True)
class DataConfig:
    train: str = ""
    val: str = ""
    max_frames: int = 1800  # frames per batch and device (72 s of video)
    num_workers: int = 2
    augment: AugmentConfig = AugmentConfig()


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
            lp.transpose(0, 1).float(),
            batch["targets"],
            out_len,
            batch["target_lengths"],
            blank=VOCAB.blank,
            zero_infinity=True,
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
        return DataLoader(
            ds,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=w,
            persistent_workers=w > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self):
        return self._loader(self.val_set, shuffle=False) if self.val_set is not None else []


@dataclass(frozen=True)
class VSRTrainConfig(RunConfig):
    model: VSRConfig = PRESETS["small"]
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    output: str = "runs/vsr"
    average_last: int = 5  # average the weights of the last N snapshots into the final model
    snapshot_every: int = 0  # steps between snapshots; 0 = at every validation (or epoch end)
    checkpoint_every: int = 500

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d


class AverageLastSnapshots(L.Callback):
    """Keep the model weights of the last ``n`` snapshots (CPU copies) and, when fitting ends,
    save their average as the final checkpoint (rank 0 writes)."""

    def __init__(self, n: int, every: int, out_dir: Path, config: dict[str, Any]):
        self.n, self.every, self.out_dir, self.config = n, every, out_dir, config
        self.snaps: deque[dict[str, torch.Tensor]] = deque(maxlen=max(1, n))

    def _snap(self, pl_module) -> None:
        self.snaps.append({k: v.detach().to("cpu", copy=True) for k, v in pl_module.model.state_dict().items()})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.every and trainer.global_step % self.every == 0:
            self._snap(pl_module)

    def on_validation_end(self, trainer, pl_module) -> None:
        if not self.every and not trainer.sanity_checking:
            self._snap(pl_module)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self.every and not trainer.val_dataloaders:
            self._snap(pl_module)

    def on_fit_end(self, trainer, pl_module) -> None:
        if not self.snaps:
            self._snap(pl_module)
        avg = {}
        for k, v in self.snaps[-1].items():
            if v.is_floating_point():
                avg[k] = sum(s[k] for s in self.snaps) / len(self.snaps)
            else:  # counters (BatchNorm's num_batches_tracked): the latest
                avg[k] = v
        if trainer.is_global_zero:
            model = copy.deepcopy(pl_module.model).cpu()
            model.load_state_dict(avg)
            save_checkpoint(
                self.out_dir,
                model,
                "vsr",
                self.config["model"],
                {"trained_with": self.config, "averaged_snapshots": len(self.snaps)},
            )


def train_vsr(cfg: VSRTrainConfig) -> Path:
    """Fit and return the folder of the final (averaged) checkpoint."""
    L.seed_everything(cfg.seed, workers=True)
    out = Path(cfg.output)
    model = VSRModel(cfg.model)
    max_steps = int(cfg.trainer.get("max_steps", 10000))
    task = VSRTask(model, cfg.optim, total_steps=max_steps)
    data = VSRDataModule(cfg.data, cfg.model.time_stride, cfg.seed)
    final = out / "final"
    snapshots = AverageLastSnapshots(cfg.average_last, cfg.snapshot_every, final, cfg.to_dict())
    trainer = {**cfg.trainer, "use_distributed_sampler": False}  # the sampler shards itself
    fit_resumable(task, cfg, max_steps, trainer, (snapshots,), datamodule=data)
    return final
