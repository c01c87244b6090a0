"""The phoneme-to-text evaluation run behind ``eval/p2t_wer.py``: WER against simulated phoneme
error rates for dictionary lookup, the LoRA LLM's own sentence and, with decoding settings,
the LLM with phoneme-consistency rescoring; and the tuning of the rescoring weights, which the
library writes into the adapter folder (``decoding.json``).

Writes OUT/results.json, OUT/results.md (WER table, and each LLM system's difference to the
lookup with a paired-bootstrap 95% interval), OUT/utterances.jsonl (every sentence's noisy
phonemes and each system's hypothesis), OUT/wer_vs_per.png and, when tuning, OUT/tuning.json.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from avsr.core.errors import UsageError
from avsr.core.jsonl import read_jsonl
from avsr.data.crops import with_phonemes
from avsr.evaluation.bigram import BIGRAM, BigramDecoder, BigramLM, tune_weight
from avsr.evaluation.p2t import (
    LOOKUP,
    differences,
    differences_table,
    markdown_table,
    noisy_inputs,
    plot,
    tune_channel_weight,
    tune_weights,
    wer_vs_per,
)

RATES = (0.0, 0.1, 0.2, 0.3)


@dataclass(frozen=True)
class P2TRunConfig:
    """``adapter``: phoneme-to-text adapter folder (None: the lookup baseline alone); ``corpus``:
    folder with train.jsonl (word counts) and heldout.jsonl; the first ``sentences`` held-out
    sentences are scored; ``tune`` > 0 first picks the rescoring weights on the next ``tune``
    (disjoint) ones and saves them in the adapter. ``beams``, ``hybrids``, ``lattice``,
    ``lattice_words`` override the adapter's decoding settings when given."""

    adapter: str | None = None
    corpus: str = "data/corpus"
    sentences: int = 200
    rates: tuple[float, ...] = RATES
    tune: int = 0
    beams: int | None = None
    hybrids: bool | None = None
    lattice: int | None = None
    lattice_words: int | None = None
    batch_size: int = 32
    device: str = "cpu"
    bigram_weight: float = 8.0  # the bigram baseline's channel weight (tuned on 100 sentences; ``tune`` retunes)


def _progress(it, desc: str):
    from tqdm import tqdm

    return tqdm(it, desc=desc, disable=not sys.stderr.isatty())


def tune_decoding(
    p2t, candidates, dev: list[dict[str, Any]], rates: tuple[float, ...], adapter: str | os.PathLike, tuned_on: str
) -> dict[str, Any]:
    """Pick the rescoring weights on ``dev`` at every error rate (``candidates(noisy phonemes)``
    gives each input's candidates), set them on ``p2t.decoding`` with rescoring on, save them in
    the adapter folder (``decoding.json``), and return {chosen, wer_by_weights, tuned_on}."""
    cands, refs = [], []
    for rate in rates:
        cands += candidates(noisy_inputs(dev, rate))
        refs += [r["text"] for r in dev]
    if p2t.decoding.uses_prior:  # direct, prior and channel weights together
        chosen, wers = tune_weights(cands, refs)
        table = {",".join(f"{x:g}" for x in k): v for k, v in wers.items()}
    else:
        weight, wers = tune_channel_weight(cands, refs)
        chosen, table = {"channel_weight": weight}, {f"{k:g}": v for k, v in wers.items()}
    p2t.decoding = replace(p2t.decoding, rescore=True, tuned_on=tuned_on, **chosen)
    p2t.decoding.save(adapter)
    return {"chosen": chosen, "wer_by_weights": table, "tuned_on": tuned_on}


def _llm_decoders(cfg: P2TRunConfig, heldout: list[dict[str, Any]], out: Path) -> dict:
    from avsr.p2t.model import load_p2t

    p2t = load_p2t(cfg.adapter, merge=True, device=cfg.device)  # LoRA merged into the weights: the same model, faster
    overrides = {
        k: v
        for k, v in (
            ("beams", cfg.beams),
            ("hybrids", cfg.hybrids),
            ("lattice", cfg.lattice),
            ("lattice_words", cfg.lattice_words),
        )
        if v is not None and (k != "beams" or v)
    }
    p2t.decoding = replace(p2t.decoding, **overrides)
    cache: dict = {}
    bs = cfg.batch_size

    def candidates(batch):
        key = tuple(map(tuple, batch))
        if key not in cache:
            cache.clear()  # one error rate at a time: every system decodes the same inputs
            cache[key] = [
                c
                for s in _progress(range(0, len(batch), bs), "LLM candidates")
                for c in p2t.candidates(batch[s : s + bs], bs)
            ]
        return cache[key]

    if cfg.tune:
        dev = with_phonemes(heldout[cfg.sentences : cfg.sentences + cfg.tune])
        if not dev:
            raise UsageError(f"--tune {cfg.tune}: no held-out sentences after the first {cfg.sentences}")
        tuned_on = (
            f"{len(dev)} held-out sentences {cfg.sentences}..{cfg.sentences + len(dev) - 1} of {cfg.corpus}, "
            f"error rates {list(cfg.rates)}"
        )
        tuning = tune_decoding(p2t, candidates, dev, cfg.rates, cfg.adapter, tuned_on)
        (out / "tuning.json").write_text(json.dumps(tuning, indent=1))
        print(
            f"rescoring weights -> best dev WER {100 * min(tuning['wer_by_weights'].values()):.1f}%; "
            f"chosen {tuning['chosen']}"
        )
    name = f"LoRA LLM ({p2t.cfg.base}{' + lexicon hint' if p2t.cfg.hint == 'lexicon' else ''})"
    if not p2t.decoding.rescore:  # greedy only: no candidate scoring
        return {
            name: lambda batch: [
                t for s in _progress(range(0, len(batch), bs), "LLM") for t in p2t(batch[s : s + bs], bs)
            ]
        }
    what = [x for x, on in (("LLM/lookup hybrids", p2t.decoding.hybrids), ("word lattice", p2t.decoding.lattice)) if on]
    return {
        name: lambda batch: [
            c.texts[0] for c in candidates(batch)
        ],  # one set of candidates per input serves both systems
        f"{name} + phoneme rescoring" + (" of " + " + ".join(what) if what else ""): lambda batch: [
            c.choose(p2t.decoding) for c in candidates(batch)
        ],
    }


def run_p2t_eval(cfg: P2TRunConfig, out: str | os.PathLike) -> str:
    """Score every system at every error rate and write the run folder; returns the Markdown table."""
    from avsr.p2t.lexicon import DictionaryDecoder

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = Path(cfg.corpus)
    for f in ("train.jsonl", "heldout.jsonl"):
        if not (corpus / f).is_file():
            raise UsageError(f"{corpus / f}: no such file (python data_prep/corpus.py -o {corpus} writes it)")
    heldout = list(read_jsonl(corpus / "heldout.jsonl"))
    train = list(read_jsonl(corpus / "train.jsonl"))
    lexicon = DictionaryDecoder.from_corpus(train)
    bigram = BigramDecoder(lexicon, BigramLM.from_records(train), cfg.bigram_weight)
    if cfg.tune:  # its channel weight on the tuning sentences, as the LLM's rescoring weights
        dev = with_phonemes(heldout[cfg.sentences : cfg.sentences + cfg.tune])
        inputs = [x for rate in cfg.rates for x in noisy_inputs(dev, rate)]
        weight, wers = tune_weight(bigram, inputs, [r["text"] for r in dev] * len(cfg.rates))
        (out / "bigram_tuning.json").write_text(json.dumps({"chosen": weight, "wer_by_weight": wers}, indent=1))
    decoders = {LOOKUP: lambda batch: [lexicon(ph) for ph in batch], BIGRAM: bigram.batch}
    if cfg.adapter:
        decoders |= _llm_decoders(cfg, heldout, out)
    rows = wer_vs_per(with_phonemes(heldout[: cfg.sentences]), decoders, tuple(cfg.rates))
    diffs = differences(rows, LOOKUP) + [d for d in differences(rows, BIGRAM) if d["system"] != LOOKUP]
    with open(out / "utterances.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            for u in r.pop("utterances"):
                f.write(json.dumps({"system": r["system"], "error_rate": r["error_rate"], **u}) + "\n")
    (out / "results.json").write_text(json.dumps({"wer": rows, "differences": diffs}, indent=1))
    table = markdown_table(rows) + ("\n\n" + differences_table(diffs) if diffs else "")
    (out / "results.md").write_text(table + "\n")
    plot(rows, out / "wer_vs_per.png")
    return table
