"""The Lightning side of batch transcription, imported only when a run has PyTorch modules or
several processes (:mod:`avsr.transcribe.engine` calls it with its options, task and streams):
the Trainer, a LightningModule that holds the recognizers' modules (so that Lightning places
them and runs DDP), and the prediction loop with its writer callbacks."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch.utils.data import DataLoader


def _as_list(batch):
    return batch


def make_trainer(opts):
    """The Trainer of a run: precision, devices, strategy and nodes from ``opts``; no logger, no bar."""
    import lightning.pytorch as pl

    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    return pl.Trainer(
        accelerator=opts.accelerator,
        devices=opts.devices,
        strategy=opts.strategy,
        num_nodes=opts.num_nodes,
        precision=opts.precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        inference_mode=True,
    )


def _module(task, loader: Callable[[int, int], DataLoader]):
    import lightning.pytorch as pl
    import torch

    class _Predict(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.models = torch.nn.ModuleDict(task.modules())  # so that Lightning moves them to the device

        def predict_dataloader(self):  # called once the ranks are known
            return loader(self.trainer.global_rank, self.trainer.world_size)

        def predict_step(self, batch, batch_idx):
            return task(batch)

    return _Predict()


def predict(trainer, task, stream, batch_size: int, start, state, end, merge) -> None:
    """Lightning's prediction loop over each rank's stream; rank 0 merges the part files at the end."""
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader, IterableDataset

    class _Stream(IterableDataset):
        def __init__(self, inner):
            self.inner = inner

        def __iter__(self):
            return iter(self.inner)

    def loader(rank: int, world: int) -> DataLoader:
        return DataLoader(_Stream(stream(rank, world)), batch_size=batch_size, collate_fn=_as_list, num_workers=0)

    class _Write(pl.Callback):
        def on_predict_start(self, trainer, pl_module):
            start(trainer.global_rank, trainer.world_size)

        def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
            state["writer"].add(outputs)

        def on_predict_end(self, trainer, pl_module):
            end()
            trainer.strategy.barrier()
            if trainer.world_size > 1 and trainer.global_rank == 0:
                merge()

    trainer.callbacks.append(_Write())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*persistent_workers.*")
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*treespec.*")  # Lightning's own use of a deprecated torch API
        trainer.predict(_module(task, loader), return_predictions=False)
