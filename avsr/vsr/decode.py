"""CTC decoding, written once: training-time validation, ``avsr eval vsr`` and inference all
call these two functions."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks. log_probs (B, T, V)."""
    best = log_probs.argmax(-1).cpu().numpy()
    out = []
    for row, n in zip(best, lengths.tolist()):
        row = row[:n]
        keep = np.ones(len(row), bool)
        keep[1:] = row[1:] != row[:-1]
        out.append([int(c) for c in row[keep] if c != blank])
    return out


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def beam_search(
    log_probs: torch.Tensor,
    lengths: torch.Tensor,
    beam: int = 8,
    blank: int = 0,
    prune: float = -12.0,
    candidates: int | None = None,
) -> list[list[int]]:
    """CTC prefix beam search (no language model). Symbols whose frame log-probability is below
    ``prune`` are skipped, and with ``candidates`` only that many of a frame's most probable
    symbols (plus blank) are tried: what keeps large unit inventories (5,049 SentencePiece
    units) fast. log_probs (B, T, V); returns the best label sequence per item."""
    lp = log_probs.detach().float().cpu().numpy()
    results = []
    for b, n in enumerate(lengths.tolist()):
        beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (p_blank, p_nonblank)
        for t in range(n):
            frame = lp[b, t]
            cand = np.flatnonzero(frame > prune)
            if candidates is not None and len(cand) > candidates:
                cand = cand[np.argpartition(frame[cand], -candidates)[-candidates:]]
                if frame[blank] > prune and blank not in cand:
                    cand = np.append(cand, blank)
            nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
            for prefix, (pb, pnb) in beams.items():
                total = _logaddexp(pb, pnb)
                for c in cand:
                    p = float(frame[c])
                    if c == blank:
                        e = nxt[prefix]
                        e[0] = _logaddexp(e[0], total + p)
                        continue
                    ext = prefix + (int(c),)
                    e = nxt[ext]
                    if prefix and prefix[-1] == c:
                        e[1] = _logaddexp(e[1], pb + p)  # repeat needs a blank in between
                        same = nxt[prefix]
                        same[1] = _logaddexp(same[1], pnb + p)
                    else:
                        e[1] = _logaddexp(e[1], total + p)
            beams = dict(sorted(((k, (v[0], v[1])) for k, v in nxt.items()), key=lambda kv: -_logaddexp(*kv[1]))[:beam])
        best = max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))[0] if beams else ()
        results.append(list(best))
    return results


def decode(log_probs: torch.Tensor, lengths: torch.Tensor, method: str = "greedy", beam: int = 8) -> list[list[int]]:
    if method == "greedy":
        return greedy_decode(log_probs, lengths)
    if method == "beam":
        return beam_search(log_probs, lengths, beam)
    raise ValueError(f"decoding method must be 'greedy' or 'beam', got {method!r}")
