"""Phoneme error rate of a lip-reading checkpoint on a manifest, with per-utterance output."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from avsr.core.jsonl import write_jsonl
from avsr.core.metrics import edits, error_rate
from avsr.data.crops import CropDataset, FrameBudgetSampler, collate
from avsr.text import VOCAB
from avsr.vsr.decode import decode


@dataclass
class PERResult:
    per: float
    utterances: int
    records: list[dict[str, Any]]


@torch.inference_mode()
def evaluate_vsr(
    model: torch.nn.Module,
    manifest: str | os.PathLike,
    method: str = "greedy",
    beam: int = 8,
    max_frames: int = 3000,
    out: str | os.PathLike | None = None,
    progress: bool = False,
) -> PERResult:
    """Decode every clip of ``manifest`` (centre crop) and score PER. With ``out``, one JSON
    line per utterance: id, ref, hyp (space-separated phonemes), edits, ref_len."""
    from tqdm import tqdm

    ds = CropDataset(manifest, train=False, time_stride=model.cfg.time_stride)
    loader = DataLoader(
        ds, batch_sampler=FrameBudgetSampler(ds.lengths, max_frames, shuffle=False, rank=0, world=1), collate_fn=collate
    )
    device = next(model.parameters()).device
    records = []
    for batch in tqdm(loader, disable=not progress, unit="batch"):
        logits, out_len = model(batch["video"].to(device), batch["lengths"].to(device))
        hyps = decode(logits.log_softmax(-1), out_len, method, beam)
        refs = batch["targets"].split(batch["target_lengths"].tolist())
        for cid, ref, hyp in zip(batch["ids"], refs, hyps):
            r, h = VOCAB.decode(ref.tolist()), VOCAB.decode(hyp)
            records.append({"id": cid, "ref": " ".join(r), "hyp": " ".join(h), "edits": edits(r, h), "ref_len": len(r)})
    records.sort(key=lambda x: x["id"])
    per = error_rate([x["ref"].split() for x in records], [x["hyp"].split() for x in records])
    if out is not None:
        write_jsonl(Path(out), records)
    return PERResult(per, len(records), records)
