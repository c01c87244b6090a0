"""A routing table computed from measurements: which adapter set the default of ``avsr transcribe``
may pick, for which (estimated category, estimated SNR), on the evidence of a validation run.

The input is the ``utterances.jsonl`` of a validation evaluation (``eval/av_noise.py`` or
``avsr eval asr``, never the test run) that scored the frozen model (``none``), each set, and
``routed`` (whose lines carry the noise head's estimate of every mixture: ``noise_category``,
``noise_snr``). The router acts on the head's estimate, not on the true condition, so the
evidence is gathered the same way: for a set whose home category is ``c`` and a cut ``t``, the
mixtures the rule ``estimated category c, estimated SNR < t`` would send to the set, with the
set's and the frozen model's edits on each (a paired comparison: same mixtures).

A region may also ask the head to be sure (its probability of the category at least ``p``): an
unsure head keeps the frozen model. A rule is kept only when the set is clearly better on the
region's mixtures (the paired bootstrap interval of WER(set) - WER(frozen) lies below zero), not
clearly worse in any true condition among them that has enough utterances, and was decoded on all
of them; of the (cut, p) regions that pass, the one with the most mixtures is taken.
Everything else stays on the frozen model: a default is never worse than the plain model on
the evidence at hand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from avsr.core.metrics import BOOTSTRAP_RESAMPLES, paired_bootstrap
from avsr.noise.router import NO_ADAPTER, RouterConfig, Rule

ROUTED = "routed"
CUTS = (-10.0, -7.5, -5.0, -2.5, 0.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0)  # estimated-SNR cuts tried, dB
PROBS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)  # least head probabilities tried (0: any)
MIN_CELL = 20  # a true condition with fewer mixtures in a region is not judged on its own


@dataclass(frozen=True)
class Evidence:
    """Why a set is (or is not) in the table: the best region tried and its paired comparison."""

    adapter: str
    category: str
    snr_max: float | None  # the cut kept; None: no cut passed (the set is not chosen by default)
    min_prob: float | None  # the least head probability of the region (None: any)
    mixtures: int
    words: int
    wer_frozen: float  # %, on those mixtures
    wer_set: float
    diff_low: float  # % points, 95% paired interval of WER(set) - WER(frozen)
    diff_high: float
    worse_in: tuple[str, ...] = ()  # true conditions where the set was clearly worse (a cut fails on them)
    unmeasured: int = 0  # mixtures the rule would route to the set that it was not run on (a cut fails on them)

    @property
    def chosen(self) -> bool:
        return self.snr_max is not None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["worse_in"] = list(self.worse_in)
        return d

    def describe(self) -> str:
        sure = f", head at least {self.min_prob:g} sure" if self.min_prob else ""
        where = f"estimated {self.category} below {self.snr_max:g} dB{sure}" if self.chosen else "not chosen by default"
        diff = f"{self.wer_set - self.wer_frozen:+.1f} [{self.diff_low:+.1f}, {self.diff_high:+.1f}]"
        line = (
            f"{self.adapter}: {where}: {self.mixtures} validation mixtures ({self.words} words), WER frozen "
            f"{self.wer_frozen:.1f}% -> set {self.wer_set:.1f}%, difference {diff} points"
        )
        if self.worse_in:
            line += f"; clearly worse in {', '.join(self.worse_in)}"
        if self.unmeasured:
            line += f"; {self.unmeasured} mixtures it would take were not decoded with it (run the set everywhere)"
        return line


def _index(lines: Iterable[dict[str, Any]]):
    """(edits by set by mixture, words by mixture, true condition by mixture, estimate by mixture)."""
    edits: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    words: dict[tuple[str, str], int] = {}
    truth: dict[tuple[str, str], str] = {}
    est: dict[tuple[str, str], tuple[str, float, float]] = {}
    for u in lines:
        key = (u["id"], u["condition"])
        edits[u["set"]][key] = int(u["edits"])
        words[key] = int(u["ref_words"])
        truth[key] = u["condition"]
        if u["set"] == ROUTED and u.get("noise_category") is not None:
            prob = u.get("noise_prob")
            est[key] = (u["noise_category"], float(u["noise_snr"]), 1.0 if prob is None else float(prob))
    return edits, words, truth, est


def _compare(keys, a: dict, b: dict, words: dict, resamples: int, seed: int) -> dict[str, float]:
    ea, eb, w = [a[k] for k in keys], [b[k] for k in keys], [words[k] for k in keys]
    pb = paired_bootstrap(ea, eb, w, resamples, seed)
    n = max(sum(w), 1)
    return pb | {"wer_a": 100 * sum(ea) / n, "wer_b": 100 * sum(eb) / n, "words": sum(w)}


def derive_router(
    lines: Sequence[dict[str, Any]],
    homes: dict[str, str],
    cuts: Sequence[float] = CUTS,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    min_cell: int = MIN_CELL,
    probs: Sequence[float] = PROBS,
) -> tuple[RouterConfig, list[Evidence]]:
    """The routing table the validation ``lines`` support, and the evidence for every set in
    ``homes`` (set name -> the noise category it was trained for). Needs lines of ``none``,
    of each set, and of ``routed`` (the head's estimates). ValueError when they are missing."""
    edits, words, truth, est = _index(lines)
    if NO_ADAPTER not in edits:
        raise ValueError("the validation lines have no frozen-model ('none') lines to compare with")
    if not est:
        raise ValueError("the validation lines have no 'routed' lines with the noise head's estimates")
    rules = [Rule(NO_ADAPTER, category="clean")]
    evidence = []
    for name, category in homes.items():
        if name not in edits:
            raise ValueError(f"the validation lines have no lines of the set {name!r}")
        ev = _best_region(name, category, edits, words, truth, est, cuts, probs, resamples, seed, min_cell)
        evidence.append(ev)
        if ev.chosen:
            rules.append(Rule(name, category=category, snr_max=ev.snr_max, min_prob=ev.min_prob))
    return RouterConfig(tuple(rules), NO_ADAPTER), evidence


def _best_region(name, category, edits, words, truth, est, cuts, probs, resamples, seed, min_cell) -> Evidence:
    """The passing (cut, least probability) region with the most mixtures; else the evidence of
    the region with the best difference (not chosen)."""
    frozen, mine = edits[NO_ADAPTER], edits[name]
    best: Evidence | None = None
    passed: list[Evidence] = []
    for cut in sorted(cuts, reverse=True):
        for p in sorted(probs):
            region = [k for k, (c, s, q) in est.items() if c == category and s < cut and q >= p and k in frozen]
            keys = [k for k in region if k in mine]
            if not keys:
                continue
            ev = _evidence(
                name,
                category,
                cut,
                p,
                keys,
                len(region) - len(keys),
                mine,
                frozen,
                words,
                truth,
                resamples,
                seed,
                min_cell,
            )
            if ev.chosen:
                passed.append(ev)
            elif best is None or ev.wer_set - ev.wer_frozen < best.wer_set - best.wer_frozen:
                best = ev
    if passed:
        return max(passed, key=lambda e: (e.mixtures, e.snr_max, -(e.min_prob or 0.0)))
    nan = float("nan")
    return best or Evidence(name, category, None, None, 0, 0, nan, nan, nan, nan)


def _evidence(name, category, cut, p, keys, unmeasured, mine, frozen, words, truth, resamples, seed, min_cell):
    """The paired comparison of one region (and of each true condition in it with enough mixtures)."""
    cmp = _compare(keys, mine, frozen, words, resamples, seed)
    by_cell = defaultdict(list)
    for k in keys:
        by_cell[truth[k]].append(k)
    worse = tuple(
        cell
        for cell, ks in sorted(by_cell.items())
        if len(ks) >= min_cell and _compare(ks, mine, frozen, words, resamples, seed)["low"] > 0
    )
    ok = cmp["high"] < 0 and not worse and not unmeasured
    return Evidence(
        name,
        category,
        cut if ok else None,
        (p or None) if ok else None,
        len(keys),
        cmp["words"],
        round(cmp["wer_b"], 2),
        round(cmp["wer_a"], 2),
        round(100 * cmp["low"], 2),
        round(100 * cmp["high"], 2),
        worse,
        unmeasured,
    )


def router_yaml(cfg: RouterConfig, evidence: Sequence[Evidence], source: str) -> dict[str, Any]:
    """The ``router.yaml`` content: the rules, and the evidence that ``avsr adapters --router`` prints."""
    rules = []
    for r in cfg.rules:
        d = {"adapter": r.adapter}
        d |= {k: getattr(r, k) for k in ("category", "snr_min", "snr_max", "min_prob") if getattr(r, k) is not None}
        rules.append(d)
    return {
        "router": {"rules": rules, "default": cfg.default},
        "derived_from": source,
        "evidence": [e.to_dict() for e in evidence],
    }
