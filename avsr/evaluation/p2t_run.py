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
from dataclasses import asdict, dataclass, replace
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
    (disjoint) ones and saves them in the adapter. ``beams``, ``hybrids``, ``bigram``,
    ``lattice``, ``lattice_words`` override the adapter's decoding settings when given."""

    adapter: str | None = None
    corpus: str = "data/corpus"
    sentences: int = 200
    rates: tuple[float, ...] = RATES
    tune: int = 0
    beams: int | None = None
    hybrids: bool | None = None
    bigram: bool | None = None
    prior: bool | None = None  # True: every candidate also scored by the LM prior (its weight tuned; 1 untuned)
    lattice: int | None = None
    lattice_words: int | None = None
    batch_size: int = 32
    device: str = "cpu"
    bigram_weight: float = 8.0  # the bigram baseline's channel weight (tuned on 100 sentences; ``tune`` retunes)
    boundaries: bool = True  # False: word boundaries removed from every input (as the VALLR model emits them)
    heldout: str | None = None  # sentences to score and tune on (JSONL with id, text) instead of CORPUS/heldout.jsonl


def _progress(it, desc: str):
    from tqdm import tqdm

    return tqdm(it, desc=desc, disable=not sys.stderr.isatty())


# The rescoring options in the order a tuned run adds them, each one a system of its own scored
# from the same candidates (Candidates.only): (name, the candidate sources it adds, the
# DecodingConfig switch it needs).
OPTIONS = (
    ("phoneme rescoring", ("llm", "lookup"), None),
    ("+ hybrids", ("hybrid",), "hybrids"),
    ("+ word bigram", ("bigram",), "bigram"),
    ("+ lattice", ("lattice",), "lattice"),
)


def ablations(decoding) -> list[tuple[str, frozenset[str]]]:
    """The rescoring systems of a run: the LM's sentence and the lookup's reading, then each
    option ``decoding`` has switched on added in turn; the last one has every option."""
    out: list[tuple[str, frozenset[str]]] = []
    kinds: set[str] = set()
    name = ""
    for label, add, flag in OPTIONS:
        if flag and not getattr(decoding, flag):
            continue
        kinds |= set(add)
        name = f"{name} {label}".strip()
        out.append((name, frozenset(kinds)))
    return out


def _tune(cands, refs, prior: bool) -> tuple[dict[str, float], dict[str, float]]:
    if prior:  # direct, prior and channel weights together
        chosen, wers = tune_weights(cands, refs)
        return chosen, {",".join(f"{x:g}" for x in k): v for k, v in wers.items()}
    weight, wers = tune_channel_weight(cands, refs)
    return {"channel_weight": weight}, {f"{k:g}": v for k, v in wers.items()}


def tune_decoding(
    p2t,
    candidates,
    dev: list[dict[str, Any]],
    rates: tuple[float, ...],
    adapter: str | os.PathLike,
    tuned_on: str,
    boundaries: bool = True,
) -> dict[str, Any]:
    """Pick the rescoring weights of every system of :func:`ablations` on ``dev`` at every
    error rate (``candidates(noisy phonemes)`` gives each input's candidates); set the last
    one's (every option on) on ``p2t.decoding`` with rescoring on and save them in the adapter
    folder (``decoding.json``). Returns {chosen, systems: {name: {chosen, sources, wer_by_weights}},
    tuned_on, decoding (the run's settings, with the last system's weights)}."""
    cands, refs = [], []
    for rate in rates:
        cands += candidates(noisy_inputs(dev, rate, boundaries=boundaries))
        refs += [r["text"] for r in dev]
    systems = {}
    for name, kinds in ablations(p2t.decoding):
        chosen, table = _tune([c.only(kinds) for c in cands], refs, p2t.decoding.uses_prior)
        systems[name] = {"chosen": chosen, "sources": sorted(kinds), "wer_by_weights": table}
    p2t.decoding = replace(p2t.decoding, rescore=True, tuned_on=tuned_on, **chosen)
    p2t.decoding.save(adapter)
    return {"chosen": chosen, "systems": systems, "tuned_on": tuned_on, "decoding": asdict(p2t.decoding)}


def _llm_decoders(cfg: P2TRunConfig, heldout: list[dict[str, Any]], out: Path) -> dict:
    from avsr.p2t.model import load_p2t

    p2t = load_p2t(cfg.adapter, merge=True, device=cfg.device)  # LoRA merged into the weights: the same model, faster
    overrides = {
        k: v
        for k, v in (
            ("beams", cfg.beams),
            ("hybrids", cfg.hybrids),
            ("bigram", cfg.bigram),
            ("lattice", cfg.lattice),
            ("lattice_words", cfg.lattice_words),
        )
        if v is not None and (k != "beams" or v)
    }
    if cfg.prior and not p2t.decoding.prior_weight:
        overrides["prior_weight"] = 1.0
    p2t.decoding = replace(p2t.decoding, **overrides)
    if p2t.decoding.bigram and p2t.bigram is None:
        raise UsageError(f"--bigram: {cfg.adapter} has no bigram_counts.tsv.gz (avsr train p2t writes it)")
    cache: dict = {}
    bs = cfg.batch_size

    def candidates(batch):
        key = tuple(map(tuple, batch))
        if key not in cache:
            cache.clear()  # one error rate at a time: every system decodes the same inputs
            cache[key] = [
                c
                for s in _progress(range(0, len(batch), bs), "LLM candidates")
                for c in p2t.candidates(batch[s : s + bs], bs, cfg.boundaries, all_scores=bool(cfg.tune))
            ]
        return cache[key]

    name = f"LoRA LLM ({p2t.cfg.base}{' + lexicon hint' if p2t.cfg.hint == 'lexicon' else ''})"
    systems = {}
    if cfg.tune:
        dev = with_phonemes(heldout[cfg.sentences : cfg.sentences + cfg.tune])
        if not dev:
            raise UsageError(f"--tune {cfg.tune}: no held-out sentences after the first {cfg.sentences}")
        tuned_on = (
            f"{len(dev)} held-out sentences {cfg.sentences}..{cfg.sentences + len(dev) - 1} "
            f"of {cfg.heldout or cfg.corpus}, "
            f"error rates {list(cfg.rates)}" + ("" if cfg.boundaries else ", word boundaries removed")
        )
        tuning = tune_decoding(p2t, candidates, dev, cfg.rates, cfg.adapter, tuned_on, cfg.boundaries)
        (out / "tuning.json").write_text(json.dumps(tuning, indent=1))
        for label, t in tuning["systems"].items():
            print(f"{label}: best dev WER {100 * min(t['wer_by_weights'].values()):.1f}%; chosen {t['chosen']}")
            systems[f"{name} + {label}"] = (frozenset(t["sources"]), replace(p2t.decoding, **t["chosen"]))
    elif p2t.decoding.rescore:
        label, kinds = ablations(p2t.decoding)[-1]
        systems[f"{name} + {label}"] = (kinds, p2t.decoding)
    else:  # greedy only: no candidate scoring
        return {
            name: lambda batch: [
                t
                for s in _progress(range(0, len(batch), bs), "LLM")
                for t in p2t(batch[s : s + bs], bs, cfg.boundaries)
            ]
        }
    # one set of candidates per input serves every system
    out_systems = {name: lambda batch: [c.texts[0] for c in candidates(batch)]}
    for label, (kinds, decoding) in systems.items():
        out_systems[label] = lambda batch, k=kinds, d=decoding: [c.only(k).choose(d) for c in candidates(batch)]
    return out_systems


def run_p2t_eval(cfg: P2TRunConfig, out: str | os.PathLike) -> str:
    """Score every system at every error rate and write the run folder; returns the Markdown table."""
    from avsr.p2t.lexicon import DictionaryDecoder

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = Path(cfg.corpus)
    for f in ("train.jsonl",) + (() if cfg.heldout else ("heldout.jsonl",)):
        if not (corpus / f).is_file():
            raise UsageError(f"{corpus / f}: no such file (python data_prep/corpus.py -o {corpus} writes it)")
    if cfg.heldout and not Path(cfg.heldout).is_file():
        raise UsageError(f"--heldout {cfg.heldout}: no such file")
    heldout = [r for r in read_jsonl(cfg.heldout or corpus / "heldout.jsonl") if r.get("text", "").strip()]
    train = list(read_jsonl(corpus / "train.jsonl"))
    lexicon = DictionaryDecoder.from_corpus(train)
    bigram = BigramDecoder(lexicon, BigramLM.from_records(train), cfg.bigram_weight)
    nb = cfg.boundaries
    if cfg.tune:  # its channel weight on the tuning sentences, as the LLM's rescoring weights
        dev = with_phonemes(heldout[cfg.sentences : cfg.sentences + cfg.tune])
        inputs = [x for rate in cfg.rates for x in noisy_inputs(dev, rate, boundaries=nb)]
        weight, wers = tune_weight(bigram, inputs, [r["text"] for r in dev] * len(cfg.rates), boundaries=nb)
        (out / "bigram_tuning.json").write_text(json.dumps({"chosen": weight, "wer_by_weight": wers}, indent=1))
    decoders = {
        # without boundaries the lookup reads the words where the bigram search placed them
        LOOKUP: lambda batch: [lexicon(ph if nb else bigram.segment(ph)) for ph in batch],
        BIGRAM: lambda batch: bigram.batch(batch, nb),
    }
    if cfg.adapter:
        decoders |= _llm_decoders(cfg, heldout, out)
    rows = wer_vs_per(with_phonemes(heldout[: cfg.sentences]), decoders, tuple(cfg.rates), boundaries=nb)
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
