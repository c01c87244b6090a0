"""Leave-one-package-out accuracy of the noise head: the model-selection metric for a head that
must name noise from recordings it never heard.

The train examples' frozen features are cached once (:func:`~avsr.train.noise_head.cache_features`,
with each example's noise packages). For every train noise package ``P`` with enough examples, a
fresh head is fitted on the examples whose noise holds no recording of ``P`` and scored on the
noisy examples whose noise does (at true SNR <= ``snr_max``): a package the fold never heard, as
the held-out packages are for the shipped head. The mean over packages, each weighted equally, is
what configurations (augmentation, steps, sizes) are compared on, never the held-out test packages.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from avsr.noise.head_torch import NoiseHead
from avsr.train.base import adamw_warmup_cosine
from avsr.train.classifier import noise_loss

MIN_EXAMPLES = 20  # noisy examples a package needs to be scored as a held-out package


def _batches(cache: dict[str, Any], idx: list[int], size: int, gen: torch.Generator | None):
    from avsr.train.noise_head import _collate

    order = [idx[i] for i in torch.randperm(len(idx), generator=gen)] if gen is not None else idx
    for s in range(0, len(order), size):
        part = order[s : s + size]
        yield _collate([(cache["feats"][i], cache["label"][i], cache["snr"][i]) for i in part])


def fit_fold(cfg, cache: dict[str, Any], train: list[int], steps: int, seed: int) -> NoiseHead:
    """A fresh head (``cfg.model``) fitted for ``steps`` optimiser steps on the cached examples ``train``."""
    torch.manual_seed(seed)
    head = NoiseHead(cfg.model).fit_norm([cache["feats"][i] for i in train]).train()
    opt = adamw_warmup_cosine(head.parameters(), cfg.optim, steps)
    optimizer, sched = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < steps:
        for batch in _batches(cache, train, cfg.data.batch_size, gen):
            loss, _ = noise_loss(head, batch, cfg.snr_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sched.step()
            done += 1
            if done >= steps:
                break
    return head.eval()


@torch.no_grad()
def fold_scores(head: NoiseHead, cache: dict[str, Any], test: list[int], size: int = 128) -> dict[str, float]:
    """Accuracy and SNR mean absolute error of ``head`` on the cached examples ``test``."""
    right, err, n = 0, 0.0, 0
    for batch in _batches(cache, test, size, None):
        logits, snr = head(batch["mel"], batch["frames"])
        right += int((logits.argmax(-1) == batch["label"]).sum())
        err += float((snr - batch["snr"]).abs().nansum())
        n += len(batch["label"])
    return {"accuracy": right / max(n, 1), "snr_mae": err / max(n, 1), "examples": n}


def leave_one_package_out(
    cfg,
    cache: dict[str, Any],
    steps: int | None = None,
    snr_max: float = 10.0,
    min_examples: int = MIN_EXAMPLES,
    progress: bool = False,
) -> dict[str, Any]:
    """Per package with at least ``min_examples`` noisy examples at SNR <= ``snr_max``: accuracy
    and SNR error of a head that never heard it; ``mean``: the unweighted mean over packages."""
    from tqdm import tqdm

    steps = steps or int(cfg.trainer.get("max_steps", 400))
    packages = sorted({p for pk in cache["packages"] for p in pk})
    folds = {}
    for k, pkg in enumerate(tqdm(packages, desc="leave one package out", unit="fold", disable=not progress)):
        test = [
            i
            for i, pk in enumerate(cache["packages"])
            if pkg in pk and not math.isnan(float(cache["snr"][i])) and float(cache["snr"][i]) <= snr_max
        ]
        if len(test) < min_examples:
            continue
        train = [i for i, pk in enumerate(cache["packages"]) if pkg not in pk]
        folds[pkg] = fold_scores(fit_fold(cfg, cache, train, steps, cfg.seed + k), cache, test)
    if not folds:
        raise ValueError(f"no noise package has {min_examples} noisy examples at SNR <= {snr_max:g} dB")
    mean = {m: sum(f[m] for f in folds.values()) / len(folds) for m in ("accuracy", "snr_mae")}
    return {"folds": folds, "mean": mean, "steps": steps, "snr_max": snr_max}


def lopo_for_config(cfg, whisper=None) -> dict[str, Any]:
    """The train cache of ``cfg`` (computed or reused from OUTPUT/features-train.pt), then
    :func:`leave_one_package_out` on it."""
    from avsr.train.noise_head import cached_split
    from avsr.whisper.load import load_whisper

    model = whisper if whisper is not None else load_whisper(cfg.model.whisper)[0]
    head = NoiseHead(cfg.model).attach(model.eval())
    return leave_one_package_out(cfg, cached_split(cfg, head, "train"), progress=True)
