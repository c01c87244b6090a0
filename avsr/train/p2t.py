"""``avsr train p2t CONFIG``: LoRA fine-tuning of the phoneme-to-text LM on text alone.

Sentences -> phonemes (G2P) -> simulated lip-reading errors at a rate drawn per example from
``data.error_rates`` (fresh errors every epoch, fixed ones for validation) -> prompt/answer
pairs. Thin Lightning wrappers; resumable from OUTPUT/lightning/last.ckpt, which holds only the
trainable (LoRA) weights and the optimizer state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from avsr.core.jsonl import read_jsonl
from avsr.data.crops import FrameBudgetSampler, with_phonemes
from avsr.data.phoneme_errors import ErrorConfig, corrupt, sentence_rng
from avsr.p2t.bigram import BigramLM
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.p2t.model import P2TConfig, add_lora, load_base, save_adapter
from avsr.p2t.prompt import answer_loss, collate_examples, encode_example
from avsr.train.base import OptimConfig, RunConfig, adamw_warmup_cosine, fit_resumable


@dataclass(frozen=True)
class P2TDataConfig:
    train: str = "data/corpus/train.jsonl"
    val: str = "data/corpus/heldout.jsonl"
    val_size: int = 256  # validation sentences (the first N of the held-out file)
    error_rates: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
    errors: ErrorConfig = ErrorConfig()
    batch_size: int = 16
    batch_tokens: int = (
        0  # > 0: batches of similar-length examples with at most this many tokens (instead of batch_size)
    )
    num_workers: int = 0


@dataclass(frozen=True)
class P2TTrainConfig(RunConfig):
    model: P2TConfig = P2TConfig()
    data: P2TDataConfig = P2TDataConfig()
    optim: OptimConfig = OptimConfig(lr=2e-4, weight_decay=0.0, warmup_steps=50)
    output: str = "runs/p2t"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d


class PhonemeTextDataset(Dataset):
    """Prompt/answer pairs with simulated errors; with a ``lexicon`` the prompt also holds its
    reading of the noisy phonemes (``hint: lexicon``)."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        tok,
        cfg: P2TDataConfig,
        max_length: int,
        seed: int,
        train: bool,
        lexicon=None,
    ):
        self.records, self.tok, self.cfg, self.max_length, self.seed, self.train = (
            records,
            tok,
            cfg,
            max_length,
            seed,
            train,
        )
        self.lexicon = lexicon
        self.epoch = 0

    def lengths(self) -> list[int]:
        """Token count of each clean example (the noisy ones differ by a few tokens)."""
        return [
            len(
                encode_example(
                    self.tok, r["phonemes"], r["text"], self.max_length, r["text"] if self.lexicon else None
                )["input_ids"]
            )
            for r in self.records
        ]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        r = self.records[i]
        rng = sentence_rng(self.seed + (self.epoch if self.train else 0), r["id"])
        rate = self.cfg.error_rates[int(rng.integers(len(self.cfg.error_rates)))]
        noisy = corrupt(r["phonemes"], replace(self.cfg.errors, rate=rate), rng)
        hint = self.lexicon(noisy, mark_guesses=True) if self.lexicon is not None else None
        return encode_example(self.tok, noisy, r["text"], self.max_length, hint)


class P2TTask(L.LightningModule):
    def __init__(self, model, optim: OptimConfig, total_steps: int):
        super().__init__()
        self.model, self.optim, self.total_steps = model, optim, total_steps
        self.strict_loading = False  # checkpoints hold only the trainable weights

    def training_step(self, batch, batch_idx):
        loss = answer_loss(self.model, batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def validation_step(self, batch, batch_idx):
        loss = answer_loss(self.model, batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0], sync_dist=True)

    def on_train_epoch_start(self) -> None:
        dl = self.trainer.train_dataloader
        dl.dataset.epoch = self.current_epoch
        if isinstance(dl.batch_sampler, FrameBudgetSampler):
            dl.batch_sampler.set_epoch(self.current_epoch)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}

    def configure_optimizers(self):
        return adamw_warmup_cosine(
            [p for p in self.model.parameters() if p.requires_grad], self.optim, self.total_steps
        )


def train_p2t(cfg: P2TTrainConfig, base=None) -> Path:
    """Fit the LoRA adapter; returns OUTPUT/adapter. ``base`` = (model, tokenizer) skips
    loading ``cfg.model.base`` (tests pass a tiny model)."""
    L.seed_everything(cfg.seed, workers=True)
    model, tok = base if base is not None else load_base(cfg.model)
    model = add_lora(model, cfg.model).train()  # from_pretrained returns eval mode (LoRA dropout off)
    train_recs = with_phonemes(list(read_jsonl(cfg.data.train)))
    val_recs = with_phonemes(list(read_jsonl(cfg.data.val))[: cfg.data.val_size]) if cfg.data.val else []
    if not train_recs:
        raise ValueError(f"{cfg.data.train}: no training sentences")
    lexicon = DictionaryDecoder.from_corpus(train_recs) if cfg.model.hint == "lexicon" else None
    collate = lambda b: collate_examples(b, tok.pad_token_id)  # noqa: E731
    train_ds = PhonemeTextDataset(train_recs, tok, cfg.data, cfg.model.max_length, cfg.seed, True, lexicon)
    if cfg.data.batch_tokens > 0:  # similar lengths together: little padding; shards itself under DDP
        sampler = FrameBudgetSampler(train_ds.lengths(), cfg.data.batch_tokens, shuffle=True, seed=cfg.seed)
        train_dl = DataLoader(train_ds, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.data.num_workers)
    else:
        g = torch.Generator().manual_seed(cfg.seed)
        train_dl = DataLoader(
            train_ds,
            batch_size=cfg.data.batch_size,
            shuffle=True,
            collate_fn=collate,
            num_workers=cfg.data.num_workers,
            generator=g,
        )
    val_dl = (
        DataLoader(
            PhonemeTextDataset(val_recs, tok, cfg.data, cfg.model.max_length, cfg.seed, False, lexicon),
            batch_size=cfg.data.batch_size,
            collate_fn=collate,
        )
        if val_recs
        else None
    )
    max_steps = int(cfg.trainer.get("max_steps", 1000))
    task = P2TTask(model, cfg.optim, max_steps)
    out = Path(cfg.output)
    extra = {"use_distributed_sampler": False} if cfg.data.batch_tokens > 0 else {}
    trainer = fit_resumable(
        task, cfg, max_steps, {**extra, **cfg.trainer}, train_dataloaders=train_dl, val_dataloaders=val_dl
    )
    final = out / "adapter"
    if trainer.is_global_zero:
        save_adapter(
            task.model,
            final,
            cfg.model,
            {"trained_with": cfg.to_dict(), "steps": trainer.global_step},
            lexicon,
            BigramLM.from_records(train_recs),
        )
    return final
