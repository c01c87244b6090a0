"""Phoneme-consistency rescoring: pick, among candidate sentences, the one that is both likely
under the fine-tuned LM and close to the phonemes that were recognised.

A small LM fine-tuned briefly writes fluent sentences that drift away from what was said (``a
critic is a bundle of biases`` -> ``critique is a man's ability to ...``), while the dictionary
lookup stays close to the phonemes but reads them word by word, without context. Each candidate
``h`` (the LM's n-best, plus the lookup's reading when the adapter has a lexicon) gets::

    score(h) = log P_LM(h | prompt) - channel_weight * d(G2P(h), phonemes)

where ``d`` is the Levenshtein distance between the candidate's pronunciation and the input
phonemes, word boundaries included: an edit-distance channel model, as in noisy-channel reranking
(Yee et al., EMNLP 2019). ``channel_weight`` (nats per phoneme edit) is tuned on held-out
sentences disjoint from the scored ones (``eval/p2t_wer.py --tune``) and kept in the adapter folder
as ``decoding.json``, which :func:`avsr.p2t.model.load_p2t` reads.

With ``hybrids``, the candidates also include word-level mixtures of the LM's sentence and the
lookup's reading: the two are aligned word by word, and each region where they differ is taken
from the other one, one region at a time (system combination in the manner of ROVER, Fiscus
1997). A local repair by the LM (``a sense a taste`` -> ``a sense of taste``) then survives even
when the rest of its sentence drifted, and a drifted region is replaced by the lookup's words.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

DECODING = "decoding.json"  # in the adapter folder, beside p2t_config.json
CHANNEL_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0)  # the tuning grid
PRIOR_WEIGHTS = (0.0, 0.5, 1.0, 2.0)  # of the LM prior log P(text), tuned with them
PRIOR_PROMPT = "Text:"  # the LM as a plain language model: the answer line of the prompt, without phonemes


@dataclass(frozen=True)
class DecodingConfig:
    rescore: bool = False  # False: the LM's greedy sentence, as trained
    channel_weight: float = 2.0  # nats of LM log-probability per phoneme edit
    beams: int = 1  # LM candidates per input (beam search n-best when > 1)
    lookup_candidate: bool = True  # add the dictionary lookup's reading (adapters with a lexicon)
    bigram: bool = False  # add the word-bigram decoder's reading (folders with bigram_counts.tsv.gz)
    bigram_weight: float = 8.0  # that decoder's channel weight, nats per phoneme edit (and the segmenter's)
    hybrids: bool = False  # add word-level mixtures of the LM's best sentence and the lookup's reading
    lattice: int = 0  # > 0: add the best sentences of a word-lattice search with this beam (avsr/p2t/lattice.py)
    lattice_words: int = 6  # spellings per phoneme word in the lattice
    lattice_weight: float = 6.0  # nats per phoneme edit in the lattice search (against the LM prior)
    direct_weight: float = 1.0  # of log P_LM(text | prompt), the fine-tuned model's own score
    prior_weight: float = 0.0  # of log P_LM(text | PRIOR_PROMPT); > 0 (or a lattice) scores every candidate with it
    tuned_on: str = ""  # where channel_weight came from

    def describe(self) -> str:
        """One line for run records: ``greedy`` or the rescoring settings."""
        if not self.rescore:
            return "greedy"
        cands = f"{self.beams}-best" if self.beams > 1 else "greedy sentence"
        extra = (" + lookup" if self.lookup_candidate else "") + (" + word bigram" if self.bigram else "")
        if self.hybrids:
            extra += (" + LM/lookup hybrids" if self.lookup_candidate else "") + (
                " + LM/bigram hybrids" if self.bigram else ""
            )
        extra += (
            f" + word-lattice search (beam {self.lattice}, {self.lattice_words} spellings per word)"
            if self.lattice
            else ""
        )
        prior = f", {self.direct_weight:g} x direct + {self.prior_weight:g} x LM prior" if self.uses_prior else ""
        return (
            f"phoneme-consistency rescoring (w={self.channel_weight:g} nats per phoneme edit{prior}; LM {cands}{extra})"
        )

    @property
    def uses_prior(self) -> bool:
        return bool(self.lattice) or self.prior_weight > 0

    def save(self, folder: str | os.PathLike) -> Path:
        from avsr.core.files import atomic_path

        path = Path(folder) / DECODING
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> DecodingConfig:
        """The folder's ``decoding.json``, or the default (greedy, no rescoring) without one."""
        from avsr.core.configs import from_dict

        path = Path(folder) / DECODING
        return from_dict(cls, json.loads(path.read_text())) if path.is_file() else cls()


# where a candidate came from: the LM's n-best, the lookup's reading, the bigram decoder's reading
# and its hybrids with the LM's sentence, the lookup's hybrids with it, the word lattice
SOURCES = ("llm", "lookup", "bigram", "hybrid", "lattice")


@dataclass(frozen=True)
class Candidates:
    """The candidate sentences for one input: texts, LM log-probabilities (``logp`` given the
    adapter's prompt, ``prior`` given :data:`PRIOR_PROMPT`, when computed), phoneme distances,
    and where each came from (``sources``, names of :data:`SOURCES`; a sentence two sources
    proposed names both). ``texts[0]`` is the LM's best (greedy or top beam)."""

    texts: tuple[str, ...]
    logp: tuple[float, ...]
    dist: tuple[int, ...]
    prior: tuple[float, ...] = ()
    sources: tuple[tuple[str, ...], ...] = ()

    def best(self, channel_weight: float, prior_weight: float = 0.0, direct_weight: float = 1.0) -> str:
        """``argmax direct_weight * logp + prior_weight * prior - channel_weight * dist``."""
        prior = self.prior or (0.0,) * len(self.texts)
        scores = [
            direct_weight * lp + prior_weight * pr - channel_weight * d
            for lp, pr, d in zip(self.logp, prior, self.dist)
        ]
        return self.texts[max(range(len(scores)), key=scores.__getitem__)]  # ties: the earlier (the LM's own)

    def choose(self, cfg: DecodingConfig) -> str:
        return self.best(cfg.channel_weight, cfg.prior_weight if self.prior else 0.0, cfg.direct_weight)

    def only(self, kinds: set[str] | frozenset[str]) -> Candidates:
        """The candidates proposed by any of ``kinds`` (the LM's own best always stays first):
        what a decoder with fewer options would have chosen among, from the same scores."""
        keep = [i for i, src in enumerate(self.sources) if i == 0 or set(src) & set(kinds)]
        pick = lambda xs: tuple(xs[i] for i in keep) if xs else ()  # noqa: E731
        return Candidates(pick(self.texts), pick(self.logp), pick(self.dist), pick(self.prior), pick(self.sources))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def hybrids(a: str, b: str, limit: int = 8) -> list[str]:
    """Word-level mixtures of two readings of the same input: ``a`` and ``b`` are aligned word by
    word, and for each region where they differ (the first ``limit``) one candidate is ``a`` with
    that region taken from ``b`` and one is ``b`` with it taken from ``a``. Without ``a`` and
    ``b`` themselves, without repeats."""
    from difflib import SequenceMatcher

    aw, bw = a.split(), b.split()
    diff = [op for op in SequenceMatcher(a=aw, b=bw, autojunk=False).get_opcodes() if op[0] != "equal"][:limit]
    out: dict[str, None] = {}
    for _, i1, i2, j1, j2 in diff:
        out[" ".join(aw[:i1] + bw[j1:j2] + aw[i2:])] = None
        out[" ".join(bw[:j1] + aw[i1:i2] + bw[j2:])] = None
    return [t for t in out if t and t not in (a, b)]


def phoneme_distances(texts: Sequence[str], targets: Sequence[Sequence[str]], boundaries: bool = True) -> list[int]:
    """Levenshtein distance between each text's pronunciation (G2P) and its target phonemes,
    word boundaries included (``boundaries=False``: left out of both); one G2P call (one
    espeak-ng run for unknown words) for all."""
    from rapidfuzz.distance import Levenshtein

    from avsr.text import BOUNDARY, PHONEMES, g2p_many

    code = {p: chr(0x100 + i) for i, p in enumerate((*PHONEMES, BOUNDARY))}
    enc = lambda ph: "".join(code[p] for p in ph if boundaries or p != BOUNDARY)  # noqa: E731
    return [Levenshtein.distance(enc(ph), enc(t)) for ph, t in zip(g2p_many(list(texts)), targets)]


def prior_example(tok, text: str, max_length: int) -> dict[str, list[int]]:
    """Like :func:`avsr.p2t.prompt.encode_example`, with :data:`PRIOR_PROMPT` as the prompt: the
    answer scored by the LM as a plain language model."""
    from avsr.p2t.prompt import IGNORE

    prompt = tok(PRIOR_PROMPT, add_special_tokens=False)["input_ids"]
    answer = (tok(" " + text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id])[: max_length - len(prompt)]
    return {"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer}


@torch.inference_mode()
def answer_logprobs(
    model,
    tok,
    prompts: Sequence[tuple[list[str], str | None] | None],
    answers: Sequence[str],
    max_length: int,
    batch_size: int = 16,
) -> list[float]:
    """log P(answer + EOS | prompt) under ``model`` for each (prompt, answer) pair; a prompt is
    (phonemes, hint), or None for :data:`PRIOR_PROMPT` (the LM prior). The same encoding as
    training (:func:`avsr.p2t.prompt.encode_example`).
    Candidates of one input share their prompt: it runs once (left padded), and its KV cache
    is copied to each candidate's answer."""
    from avsr.p2t.prompt import IGNORE, encode_example

    device = next(model.parameters()).device
    out: list[float] = []
    for s in range(0, len(answers), batch_size):
        ex = [
            prior_example(tok, a, max_length) if p is None else encode_example(tok, p[0], a, max_length, p[1])
            for p, a in zip(prompts[s : s + batch_size], answers[s : s + batch_size])
        ]
        cut = [e["labels"].count(IGNORE) for e in ex]  # prompt tokens (as trained: cut from the start if too long)
        unique: dict[tuple[int, ...], int] = {}
        which = [unique.setdefault(tuple(e["input_ids"][:c]), len(unique)) for e, c in zip(ex, cut)]
        # the prompts, once each
        ps = list(unique)
        n = max(map(len, ps))
        ids = torch.tensor([[tok.pad_token_id] * (n - len(p)) + list(p) for p in ps], device=device)
        pmask = torch.tensor([[0] * (n - len(p)) + [1] * len(p) for p in ps], device=device)
        res = model(
            input_ids=ids,
            attention_mask=pmask,
            position_ids=(pmask.cumsum(1) - 1).clamp(min=0),
            use_cache=True,
            logits_to_keep=1,
        )
        idx = torch.tensor(which, device=device)
        cache = res.past_key_values
        cache.reorder_cache(idx)  # one copy of its prompt's cache per answer
        # the answers (+ EOS), right padded, continuing their prompts
        ans = [e["input_ids"][c:] for e, c in zip(ex, cut)]
        m = max(map(len, ans))
        aids = torch.tensor([a + [tok.pad_token_id] * (m - len(a)) for a in ans], device=device)
        amask = torch.tensor([[1] * len(a) + [0] * (m - len(a)) for a in ans], device=device)
        plen = pmask.sum(1)[idx]
        logits = model(
            input_ids=aids,
            attention_mask=torch.cat([pmask[idx], amask], 1),
            past_key_values=cache,
            position_ids=plen[:, None] + torch.arange(m, device=device)[None],
        ).logits
        # answer token j is predicted at answer position j-1 (token 0: at the prompt's last position)
        pred = torch.cat([res.logits[idx, -1:], logits[:, :-1]], 1).float().log_softmax(-1)
        lp = pred.gather(-1, aids.unsqueeze(-1)).squeeze(-1)
        out += (lp * amask).sum(-1).tolist()
    return out
