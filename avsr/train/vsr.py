"""``avsr train vsr CONFIG [key=value ...]``: config -> model, data, Lightning Trainer -> fit ->
averaged final checkpoint. Multi-GPU / multi-node is Lightning's: set ``trainer.devices``,
``trainer.num_nodes``, ``trainer.strategy`` (torchrun and SLURM are detected by Lightning;
neither is required)."""
from __future__ import annotations

import copy
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch

from avsr.core.store import save_checkpoint
from avsr.train.common import DataConfig, OptimConfig, VSRDataModule, VSRTask, fit_resumable
from avsr.vsr.model import PRESETS, VSRConfig, VSRModel


@dataclass(frozen=True)
class VSRTrainConfig:
    model: VSRConfig = PRESETS["small"]
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    trainer: dict[str, Any] = field(default_factory=dict)  # lightning.Trainer keyword arguments
    output: str = "runs/vsr"
    seed: int = 42
    average_last: int = 5  # average the weights of the last N snapshots into the final model
    snapshot_every: int = 0  # steps between snapshots; 0 = at every validation (or epoch end)
    resume: bool = True  # continue from OUTPUT/lightning/last.ckpt when it exists
    checkpoint_every: int = 500  # steps between resumable Lightning checkpoints

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
            save_checkpoint(self.out_dir, model, "vsr", self.config["model"], {"trained_with": self.config, "averaged_snapshots": len(self.snaps)})


def train_vsr(cfg: VSRTrainConfig) -> Path:
    """Fit and return the folder of the final (averaged) checkpoint."""
    L.seed_everything(cfg.seed, workers=True)
    out = Path(cfg.output)
    model = VSRModel(cfg.model)
    max_steps = int(cfg.trainer.get("max_steps", 10000))
    task = VSRTask(model, cfg.optim, total_steps=max_steps)
    data = VSRDataModule(cfg.data, cfg.model.time_stride, cfg.seed)
    final = out / "final"
    fit_resumable(task, out, {**cfg.trainer, "use_distributed_sampler": False}, max_steps, cfg.checkpoint_every, cfg.resume,  # the sampler shards itself
                  (AverageLastSnapshots(cfg.average_last, cfg.snapshot_every, final, cfg.to_dict()),), datamodule=data)
    return final
