"""Joint CTC/attention beam search (Watanabe et al. 2017; the decoding of the Auto-AVSR models),
batched over hypotheses and over utterances.

Semantics follow ESPnet's ``BatchBeamSearch`` with a CTC prefix scorer, which the published
Auto-AVSR numbers were decoded with (checked token for token in ``tests/vsr``):

- each step scores every running hypothesis with ``(1 - ctc_weight) * decoder + ctc_weight *
  CTC prefix + lm_weight * LM``; the CTC prefix score is computed only for the ``int(1.5 *
  beam)`` tokens the decoder score alone ranks highest (pre-beam; ESPnet's
  ``pre_beam_score_key="decoder"``, as the published LM configuration decodes: ranking by
  decoder + LM would change the n-best), and always for ``<eos>``; ``<blank>`` is never emitted;
- the language model (:class:`~avsr.vsr.lm.TransformerLM`, optional) scores every unit,
  ``<eos>`` included, as an ordinary token; no length bonus;
- the ``beam`` best (hypothesis, token) pairs of an utterance survive; a hypothesis that picks
  ``<eos>`` ends; at the last allowed step (``max length = encoder frames``) every running
  hypothesis is ended with ``<eos>`` appended (its score unchanged);
- an utterance stops when its ended hypotheses show the end-detection pattern (the best ended
  hypotheses of the last three lengths all more than 10 nats below the best one), or when it
  runs out of steps;
- the n-best are the ended hypotheses by summed score, no length normalisation.

What differs from ESPnet is how the work is done, not what is computed: the decoder and the
LM cache their self-attention keys/values (ESPnet's LM recomputes each prefix), the decoder
computes the keys/values of the encoder output once per utterance; utterances of a batch run
together (padding never changes a result), and an utterance that is done leaves the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from avsr.vsr.transformer import DecoderState, TransformerDecoder

if TYPE_CHECKING:
    from avsr.vsr.lm import TransformerLM

LOGZERO = -1e10
END_MARGIN = math.log(1 * math.exp(-10))  # end detection: ended hypotheses this far below the best


@dataclass(frozen=True)
class SearchConfig:
    """Joint decoding options (defaults: the published Auto-AVSR settings)."""

    beam: int = 40
    ctc_weight: float = 0.1  # 0: attention only; 1: CTC prefix scores only
    pre_beam_ratio: float = 1.5
    nbest: int = 1
    lm_weight: float = 0.0  # used when a language model is given (the 19.1% configuration: 0.3)

    def __post_init__(self) -> None:
        if self.beam < 1 or self.nbest < 1:
            raise ValueError("beam and nbest must be >= 1")
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must be in [0, 1], got {self.ctc_weight}")
        if self.lm_weight < 0.0:
            raise ValueError(f"lm_weight must be >= 0, got {self.lm_weight}")


@dataclass
class Hypothesis:
    tokens: list[int]  # without <sos> and <eos>
    score: float
    forced_end: bool = False  # ended by reaching the maximum length, not by choosing <eos>


class CTCPrefixScorer:
    """Label-synchronous CTC prefix probabilities for many hypotheses and candidate tokens at once.

    logp (U, T, V) CTC log-probabilities, lengths (U,). A hypothesis state is ``r`` (T, 2, N):
    log-probabilities that the prefix ends at frame t in a non-blank / blank, and ``s`` (N,):
    its prefix score. Frames past an utterance's length count as certain blanks."""

    def __init__(self, logp: torch.Tensor, lengths: torch.Tensor, blank: int, eos: int):
        x = logp.float().clone()
        pad = torch.arange(x.shape[1], device=x.device)[None] >= lengths[:, None]
        x[pad] = LOGZERO
        x[..., blank] = torch.where(pad, torch.zeros_like(x[..., blank]), x[..., blank])
        self.x = x.transpose(0, 1).contiguous()  # (T, U, V)
        self.end = (lengths - 1).long()
        self.blank, self.eos = blank, eos

    def init_state(self, utt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States of the empty prefix for rows of utterances ``utt`` (N,)."""
        r = torch.full((self.x.shape[0], 2, len(utt)), LOGZERO, device=self.x.device)
        r[:, 1] = torch.cumsum(self.x[:, utt, self.blank], 0)
        return r, torch.zeros(len(utt), device=self.x.device)

    def score(
        self, utt: torch.Tensor, last: torch.Tensor, out_len: int, r_prev: torch.Tensor, ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix scores of extending each row (utterance ``utt``, newest token ``last``, ``out_len``
        tokens so far) by each of its candidate tokens ``ids`` (N, S). Returns ``psi`` (N, V):
        log-probability of every extended prefix (LOGZERO where not scored; ``<eos>``: the prefix
        itself ends), and ``r`` (T, 2, N, S), the candidates' states."""
        T, n, s = self.x.shape[0], ids.shape[0], ids.shape[1]
        x_tok = self.x[:, utt[:, None], ids]  # (T, N, S)
        x_blank = self.x[:, utt, self.blank][:, :, None]  # (T, N, 1)
        r = torch.full((T, 2, n, s), LOGZERO, device=self.x.device)
        if out_len == 0:
            r[0, 0] = x_tok[0]
        r_sum = torch.logsumexp(r_prev, 1)  # (T, N)
        phi = torch.where((ids == last[:, None])[None], r_prev[:, 1, :, None], r_sum[:, :, None])  # (T, N, S)
        start = max(out_len, 1)
        for t in range(start, T):
            r[t, 0] = torch.logaddexp(r[t - 1, 0], phi[t - 1]) + x_tok[t]
            r[t, 1] = torch.logaddexp(r[t - 1, 0], r[t - 1, 1]) + x_blank[t]
        if start < T:
            enter = phi[start - 1 : T - 1] + x_tok[start:T]  # the new token starts at frame t
            part = torch.logsumexp(torch.cat([enter, r[start - 1, 0][None]]), 0)
        else:
            part = r[start - 1, 0]
        psi = torch.full((n, self.x.shape[2]), LOGZERO, device=self.x.device)
        psi.scatter_(1, ids, part)
        psi[:, self.eos] = r_sum[self.end[utt], torch.arange(n, device=self.x.device)]
        psi[:, self.blank] = LOGZERO
        return psi, r


def end_detect(ended: list[Hypothesis], i: int, lengths: list[int], m: int = 3) -> bool:
    """True when, for each of the last ``m`` output lengths, the best hypothesis that ended with
    that length (``lengths``: each one's length counting <sos> and <eos>) is more than
    END_MARGIN below the best ended hypothesis."""
    if not ended:
        return False
    best = max(h.score for h in ended)
    count = 0
    for k in range(m):
        same = [h.score for h, n in zip(ended, lengths) if n == i - k]
        if same and max(same) - best < END_MARGIN:
            count += 1
    return count == m


@dataclass
class _Batch:
    """The running state of the utterances not yet done (rows grouped by utterance, K per utterance)."""

    utt: torch.Tensor  # (Ua,) original utterance index
    yseq: torch.Tensor  # (N, L)
    score: torch.Tensor  # (N,), -inf in empty slots
    dec: DecoderState | None = None
    memory: list = field(default_factory=list)
    src_mask: torch.Tensor | None = None
    r: torch.Tensor | None = None
    s: torch.Tensor | None = None
    lm: DecoderState | None = None

    def keep(self, which: torch.Tensor, k: int) -> None:
        rows = (which[:, None] * k + torch.arange(k, device=which.device)).reshape(-1)
        self.utt, self.yseq, self.score = self.utt[which], self.yseq[rows], self.score[rows]
        if self.dec is not None:
            self.dec = self.dec.select(rows)
            self.memory = [(mk[which], mv[which]) for mk, mv in self.memory]
            self.src_mask = self.src_mask[which]
        if self.r is not None:
            self.r, self.s = self.r[:, :, rows], self.s[rows]
        if self.lm is not None:
            self.lm = self.lm.select(rows)


class JointSearch:
    """``JointSearch(decoder, cfg, ..., lm=)(enc, lengths, ctc_logp)`` -> per utterance the n-best
    :class:`Hypothesis` list. enc (U, T, d) encoder output, lengths (U,), ctc_logp (U, T, V);
    ``lm``: a language model over the same units, fused with ``cfg.lm_weight``."""

    def __init__(
        self,
        decoder: TransformerDecoder,
        cfg: SearchConfig,
        sos: int,
        eos: int,
        blank: int = 0,
        lm: TransformerLM | None = None,
    ):
        self.decoder, self.cfg = decoder, cfg
        self.lm = lm if lm is not None and cfg.lm_weight > 0 else None
        self.sos, self.eos, self.blank = sos, eos, blank
        self.w_dec, self.w_ctc = 1.0 - cfg.ctc_weight, cfg.ctc_weight
        self.vocab = decoder.output_layer.out_features
        self.pre_beam = int(cfg.pre_beam_ratio * cfg.beam)
        self.do_pre_beam = self.w_dec > 0 and self.w_ctc > 0 and self.pre_beam < self.vocab

    @torch.inference_mode()
    def __call__(self, enc: torch.Tensor, lengths: torch.Tensor, ctc_logp: torch.Tensor) -> list[list[Hypothesis]]:
        u_all, k, v, dev = enc.shape[0], self.cfg.beam, self.vocab, enc.device
        lengths = lengths.to(dev).long()
        maxlen = lengths.tolist()
        b = _Batch(
            utt=torch.arange(u_all, device=dev),
            yseq=torch.full((u_all * k, 1), self.sos, dtype=torch.long, device=dev),
            score=torch.full((u_all * k,), float("-inf"), device=dev),
        )
        b.score[::k] = 0.0  # one live hypothesis (<sos>) per utterance
        if self.w_dec > 0:
            b.dec = self.decoder.init_state(u_all * k, dev)
            b.memory = self.decoder.memory(enc)
            b.src_mask = (torch.arange(enc.shape[1], device=dev)[None] < lengths[:, None])[:, None, None, :]
        ctc = None
        if self.w_ctc > 0:
            ctc = CTCPrefixScorer(ctc_logp, lengths, self.blank, self.eos)
            b.r, b.s = ctc.init_state(b.utt.repeat_interleave(k))
        if self.lm is not None:
            b.lm = self.lm.init_state(u_all * k, dev)
        ended: list[list[Hypothesis]] = [[] for _ in range(u_all)]
        ended_len: list[list[int]] = [[] for _ in range(u_all)]
        i = 0
        while len(b.utt):
            n = len(b.yseq)
            rows_utt = b.utt.repeat_interleave(k)
            last = b.yseq[:, -1]
            weighted = torch.zeros(n, v, device=dev)
            if self.w_dec > 0:
                logp, new_dec = self.decoder.step(last, b.dec, b.memory, b.src_mask, k)
                weighted += self.w_dec * logp
            if self.lm is not None:
                lm_logp, new_lm = self.lm.step(last, b.lm)
                weighted += self.cfg.lm_weight * lm_logp
            if ctc is not None:
                if self.do_pre_beam:
                    ids = logp.topk(self.pre_beam, -1).indices  # the decoder's ranking alone
                else:
                    ids = torch.arange(v, device=dev).expand(n, v)
                psi, r_new = ctc.score(rows_utt, last, i, b.r, ids)
                weighted += self.w_ctc * (psi - b.s[:, None])
            weighted += b.score[:, None]
            top = weighted.view(len(b.utt), k * v).topk(k, -1)
            parent = (torch.arange(len(b.utt), device=dev)[:, None] * k + top.indices // v).reshape(-1)
            tok = (top.indices % v).reshape(-1)
            b.yseq = torch.cat([b.yseq[parent], tok[:, None]], 1)
            b.score = top.values.reshape(-1).clone()
            if self.w_dec > 0:
                b.dec = new_dec.select(parent)
            if self.lm is not None:
                b.lm = new_lm.select(parent)
            if ctc is not None:
                slot = torch.zeros(n, v, dtype=torch.long, device=dev)
                slot.scatter_(1, ids, torch.arange(ids.shape[1], device=dev).expand_as(ids))
                b.r = r_new[:, :, parent, slot[parent, tok]]
                b.s = psi[parent, tok]
            done = self._post_process(b, i, k, tok, maxlen, ended, ended_len)
            i += 1
            if done.any():
                b.keep(torch.nonzero(~done).view(-1), k)
        out = []
        for hyps in ended:
            order = sorted(range(len(hyps)), key=lambda j: -hyps[j].score)  # stable: ties keep end order
            out.append([hyps[j] for j in order[: self.cfg.nbest]])
        return out

    def _post_process(self, b: _Batch, i: int, k: int, tok: torch.Tensor, maxlen, ended, ended_len) -> torch.Tensor:
        """End the hypotheses that chose <eos> (all of them at an utterance's last step); returns
        which utterances are done (Ua,) bool."""
        alive = torch.isfinite(b.score)
        is_eos = (tok == self.eos) & alive
        scores, seqs = b.score.tolist(), None
        done = torch.zeros(len(b.utt), dtype=torch.bool)
        for a, u in enumerate(b.utt.tolist()):
            rows = range(a * k, (a + 1) * k)
            forced = i == maxlen[u] - 1
            enders = [j for j in rows if (alive[j] if forced else is_eos[j])]
            if enders:
                seqs = seqs if seqs is not None else b.yseq.tolist()
                for j in enders:
                    toks = seqs[j][1:]
                    if toks and toks[-1] == self.eos:
                        toks = toks[:-1]
                    ended[u].append(Hypothesis(toks, scores[j], forced and tok[j].item() != self.eos))
                    ended_len[u].append(len(toks) + 2)
                b.score[list(enders)] = float("-inf")
            done[a] = forced or end_detect(ended[u], i, ended_len[u]) or not torch.isfinite(b.score[rows]).any()
        return done.to(b.score.device)
