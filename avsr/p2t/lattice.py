"""Word-lattice search with the fine-tuned LM: a noisy-channel decoder over the dictionary's
readings of each phoneme word.

The dictionary lookup takes, for every phoneme word, the nearest pronunciation's spelling, one
word at a time. At 20-30% phoneme errors the nearest pronunciation is often the wrong word,
while the right one is a single edit further away; only context tells them apart. Here each
phoneme word offers a few spellings (:meth:`DictionaryDecoder.alternatives`: the nearest
pronunciations and their homophones, each with its phoneme edit distance ``d``), and a beam
search left to right keeps the ``beam`` best word sequences under::

    log P_LM(words so far | prompt) - channel_weight * sum(d)

the same score as the rescoring of :mod:`avsr.p2t.rescore`, with the LM conditioned on the
adapter's own prompt (phonemes and lookup hint). Each step feeds only the new word's tokens,
continuing every surviving sequence's KV cache. The finished sequences (end-of-sequence token
included) become rescoring candidates, and are scored there exactly like the others.

The lattice keeps the input's word boundaries: a phoneme word whose boundary was lost stays
one word (the LM's own sentence, among the candidates too, can split it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class _Hyp:
    words: tuple[str, ...]
    logp: float  # LM log-probability of the words so far
    dist: int  # phoneme edits of the chosen spellings so far
    row: int  # this sequence's row in the KV cache
    next_logp: torch.Tensor  # log-probabilities of the token after the last one (vocabulary)

    def score(self, weight: float) -> float:
        return self.logp - weight * self.dist


@torch.inference_mode()
def lattice_search(
    model,
    tok,
    prompt_ids: Sequence[int],
    options: Sequence[Sequence[tuple[str, int]]],
    beam: int = 4,
    channel_weight: float = 2.0,
) -> list[tuple[str, float]]:
    """The ``beam`` best sentences through ``options`` (for each word position, its
    (spelling, phoneme distance) choices) and their scores, best first. ``prompt_ids``: the
    prompt's tokens, as :func:`avsr.p2t.prompt.encode_example` makes them."""
    device = next(model.parameters()).device
    if not options:
        return []
    ids = torch.tensor([list(prompt_ids)], device=device)
    res = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    cache, mask = res.past_key_values, torch.ones(1, ids.shape[1], dtype=torch.long, device=device)
    hyps = [_Hyp((), 0.0, 0, 0, res.logits[0, -1].float().log_softmax(-1))]
    pieces: dict[str, list[int]] = {}  # " word" -> its tokens (words tokenize apart: the BPE splits at spaces)
    for opts in options:
        cands = [
            (h, w, d, pieces.setdefault(w, tok(" " + w, add_special_tokens=False)["input_ids"]))
            for h in hyps
            for w, d in opts
        ]
        m = max(len(t) for *_, t in cands)
        rows = torch.tensor([h.row for h, *_ in cands], device=device)
        cache.reorder_cache(rows)  # one copy of its sequence's cache per candidate
        new = torch.tensor([t + [tok.pad_token_id] * (m - len(t)) for *_, t in cands], device=device)
        new_mask = torch.tensor([[1] * len(t) + [0] * (m - len(t)) for *_, t in cands], device=device)
        mask = torch.cat([mask[rows], new_mask], 1)
        pos = mask[:, :-m].sum(1, keepdim=True) + torch.arange(m, device=device)[None]
        logits = (
            model(input_ids=new, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True)
            .logits.float()
            .log_softmax(-1)
        )
        scored = []
        for r, (h, w, d, t) in enumerate(cands):
            lp = h.next_logp[t[0]].item() + sum(logits[r, j, t[j + 1]].item() for j in range(len(t) - 1))
            scored.append(_Hyp(h.words + (w,), h.logp + lp, h.dist + d, r, logits[r, len(t) - 1]))
        hyps = sorted(scored, key=lambda x: -x.score(channel_weight))[:beam]
        keep = torch.tensor([h.row for h in hyps], device=device)
        cache.reorder_cache(keep)
        mask = mask[keep]
        for r, h in enumerate(hyps):
            h.row = r
    done = [(" ".join(h.words), h.logp + h.next_logp[tok.eos_token_id].item() - channel_weight * h.dist) for h in hyps]
    return sorted(done, key=lambda x: -x[1])
