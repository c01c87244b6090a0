"""The PyTorch engine's side of Whisper decoding (:mod:`avsr.av.decoding` holds the policy).

The encoder runs once per batch (after the active set's fusion, with the active LoRA set);
transformers' ``generate`` searches on its output (beam or greedy at temperature 0, sampling
above), and one teacher-forced pass over the found tokens gives what the policy needs: the
log-probability of every text token and of the end token, and the probability of
``<|nospeech|>`` right after ``<|startoftranscript|>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np
import torch

from avsr.av.decoding import DecodingOptions, Hypothesis, avg_logprob, decode_with_fallback
from avsr.av.whisper import is_multilingual


def prompt_ids(whisper, tokenizer, language: str | None = "en") -> list[int]:
    """``<|startoftranscript|>`` [language, transcribe] ``<|notimestamps|>``."""
    gc = whisper.generation_config
    ids = [gc.decoder_start_token_id]
    if is_multilingual(whisper):
        ids += [
            tokenizer.convert_tokens_to_ids(f"<|{language or 'en'}|>"),
            tokenizer.convert_tokens_to_ids("<|transcribe|>"),
        ]
    return ids + [gc.no_timestamps_token_id]


def no_speech_id(tokenizer) -> int | None:
    """``<|nospeech|>`` (multilingual models) or ``<|nocaptions|>`` (English-only ones)."""
    for t in ("<|nospeech|>", "<|nocaptions|>"):
        i = tokenizer.convert_tokens_to_ids(t)
        if i is not None and i != tokenizer.unk_token_id:
            return i
    return None


def _quiet_generate(whisper, **kw) -> torch.Tensor:
    from transformers.modeling_outputs import BaseModelOutput
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # Whisper's generate warns about its own internal call
    try:
        enc = kw.pop("encoder_outputs")
        return whisper.generate(encoder_outputs=BaseModelOutput(last_hidden_state=enc), **kw)
    finally:
        hf_logging.set_verbosity(level)


def _text_tokens(rows: torch.Tensor, eot: int) -> list[list[int]]:
    """Generated rows (prompt stripped) -> the text tokens before the first special token."""
    out = []
    for row in rows.tolist():
        toks = []
        for t in row:
            if t >= eot:
                break
            toks.append(t)
        out.append(toks)
    return out


def score(whisper, enc: torch.Tensor, prompt: list[int], tokens: list[list[int]], eot: int, nospeech: int | None):
    """(per row: log-probabilities of the tokens and the end token, no-speech probability)."""
    n = max(map(len, tokens)) + 1
    ids = torch.full((len(tokens), len(prompt) + n), eot, dtype=torch.long, device=enc.device)
    ids[:, : len(prompt)] = torch.tensor(prompt)
    for i, t in enumerate(tokens):
        ids[i, len(prompt) : len(prompt) + len(t)] = torch.tensor(t, dtype=torch.long)
    logits = whisper(encoder_outputs=(enc,), decoder_input_ids=ids[:, :-1]).logits.float()
    logp = torch.log_softmax(logits, -1)
    p0 = len(prompt) - 1
    out = []
    for i, t in enumerate(tokens):
        target = ids[i, len(prompt) : len(prompt) + len(t) + 1]
        lp = logp[i, p0 : p0 + len(t) + 1].gather(-1, target[:, None])[:, 0]
        ns = float(torch.softmax(logits[i, 0], -1)[nospeech]) if nospeech is not None else 0.0
        out.append((lp.tolist(), ns))
    return out


@torch.inference_mode()
def decode_torch(
    av,
    mel: torch.Tensor,
    crops: torch.Tensor | None = None,
    video_frames: torch.Tensor | None = None,
    audio: Sequence[np.ndarray | None] | None = None,
    opts: DecodingOptions = DecodingOptions(),
) -> list[Hypothesis]:
    """Whisper-grade decoding of a batch of log-mel windows with ``av``'s active set."""
    whisper, tok = av.whisper, av.processor.tokenizer
    x = av.encoder_input(mel, crops, video_frames)
    plain = av.peft.disable_adapter() if av.active == "none" and av.peft is not None else nullcontext()
    prompt, eot, nospeech = prompt_ids(whisper, tok, opts.language), tok.eos_token_id, no_speech_id(tok)
    kw = {"language": opts.language, "task": "transcribe"} if is_multilingual(whisper) else {}
    if opts.max_new_tokens:
        kw["max_new_tokens"] = opts.max_new_tokens
    with plain:
        enc = whisper.model.encoder(x).last_hidden_state

        def decode(idx: list[int], t: float) -> list[Hypothesis]:
            e = enc[idx]
            if t == 0:
                rows = _quiet_generate(whisper, encoder_outputs=e, num_beams=opts.beam_size, do_sample=False, **kw)
            else:
                e = e.repeat_interleave(opts.best_of, 0)
                rows = _quiet_generate(whisper, encoder_outputs=e, do_sample=True, temperature=t, top_k=0, **kw)
            tokens = _text_tokens(rows, eot)
            hyps = [
                Hypothesis(tk, " ".join(tok.decode(tk, skip_special_tokens=True).split()), avg_logprob(lp), ns)
                for tk, (lp, ns) in zip(tokens, score(whisper, e, prompt, tokens, eot, nospeech))
            ]
            if t == 0:
                return hyps
            groups = [hyps[i : i + opts.best_of] for i in range(0, len(hyps), opts.best_of)]
            return [max(g, key=lambda h: h.avg_logprob) for g in groups]

        return decode_with_fallback(decode, list(audio) if audio is not None else [None] * len(mel), opts)
