"""The PyTorch engine's side of Whisper decoding (:mod:`avsr.whisper.decoding` holds the policy).

The encoder runs once per batch (on features an adapter bank may have fused with the mouth
crops first, with whatever LoRA set it made active); transformers' ``generate`` searches on its
output (beam or greedy at temperature 0, sampling above), and one teacher-forced pass over the
found tokens gives what the policy needs: the log-probability of every text token and of the end
token, and the probability of ``<|nospeech|>`` right after ``<|startoftranscript|>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from avsr.whisper.decoding import (
    DecodingOptions,
    Hypothesis,
    avg_logprob,
    decode_with_fallback,
    sample_len,
    text_tokens,
)
from avsr.whisper.load import is_multilingual


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


def _generate(whisper, enc: torch.Tensor, prompt: list[int], **kw) -> torch.Tensor:
    """transformers' plain ``generate`` (not Whisper's long-form machinery) from the encoder
    output and the prompt, with Whisper's token suppression; the sampled rows, prompt stripped."""
    from transformers import GenerationMixin
    from transformers.modeling_outputs import BaseModelOutput
    from transformers.utils import logging as hf_logging

    gc = whisper.generation_config
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # warnings about Whisper-only fields of its generation config
    try:
        rows = GenerationMixin.generate(
            whisper,
            encoder_outputs=BaseModelOutput(last_hidden_state=enc),
            decoder_input_ids=torch.tensor([prompt] * len(enc), device=enc.device),
            suppress_tokens=gc.suppress_tokens,
            begin_suppress_tokens=gc.begin_suppress_tokens,
            eos_token_id=gc.eos_token_id,
            pad_token_id=gc.pad_token_id if gc.pad_token_id is not None else gc.eos_token_id,
            **kw,
        )
    finally:
        hf_logging.set_verbosity(level)
    return rows[:, len(prompt) :]


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
    whisper,
    tok,
    x: torch.Tensor,
    audio: Sequence[np.ndarray | None] | None = None,
    opts: DecodingOptions = DecodingOptions(),
) -> list[Hypothesis]:
    """Whisper-grade decoding of a batch of encoder inputs ``x`` (B, n_mels, 3000) with the
    transformers Whisper ``whisper`` as it is (an adapter bank activates its set, or switches
    its adapters off, around the call) and its tokenizer ``tok``; ``audio``: each row's samples
    (no decode of digital silence)."""
    prompt, eot, nospeech = prompt_ids(whisper, tok, opts.language), tok.eos_token_id, no_speech_id(tok)
    n = sample_len(getattr(whisper.generation_config, "max_length", None), opts)
    enc = whisper.model.encoder(x).last_hidden_state

    def hyps(e: torch.Tensor, rows: torch.Tensor) -> list[Hypothesis]:
        tokens = [text_tokens(row, eot) for row in rows.tolist()]
        return [
            Hypothesis(tk, " ".join(tok.decode(tk, skip_special_tokens=True).split()), avg_logprob(lp), ns)
            for tk, (lp, ns) in zip(tokens, score(whisper, e, prompt, tokens, eot, nospeech))
        ]

    def decode(idx: list[int], t: float) -> list[Hypothesis]:
        if t == 0:
            e = enc[idx]
            return hyps(e, _generate(whisper, e, prompt, num_beams=opts.beam_size, do_sample=False, max_new_tokens=n))
        out = []
        for i in idx:  # one item at a time, seeded: its text does not depend on the batch
            e = enc[i : i + 1].repeat_interleave(opts.best_of, 0)
            with torch.random.fork_rng(devices=[]):  # without touching the caller's generator
                if opts.seed is not None:
                    torch.manual_seed(opts.seed)
                rows = _generate(whisper, e, prompt, do_sample=True, temperature=t, top_k=0, max_new_tokens=n)
            out.append(max(hyps(e, rows), key=lambda h: h.avg_logprob))
        return out

    out = decode_with_fallback(decode, list(audio) if audio is not None else [None] * len(x), opts)
    if opts.word_timestamps:
        for i, h in enumerate(out):
            if h.tokens:
                a = None if audio is None else audio[i]
                h.words = word_times(whisper, tok, enc[i : i + 1], prompt, h.tokens, eot, a)
    return out


def word_times(whisper, tok, enc: torch.Tensor, prompt: list[int], tokens: list[int], eot: int, audio) -> list[dict]:
    """Words and their times from one teacher-forced pass: the alignment heads' cross-attention
    (the generation config's ``alignment_heads``) through :func:`avsr.whisper.timestamps.attention_path`,
    word edges fitted to ``audio``'s voice activity (:func:`avsr.whisper.vad.speech_frames`)."""
    from avsr.core.media import SAMPLE_RATE
    from avsr.whisper.mel_numpy import HOP, WHISPER_FRAMES
    from avsr.whisper.timestamps import attention_path, split_words, words_from_path
    from avsr.whisper.vad import speech_frames

    heads = getattr(whisper.generation_config, "alignment_heads", None)
    if not heads:
        return []
    ids = torch.tensor([prompt + tokens], device=enc.device)
    impl = whisper.config._attn_implementation
    whisper.set_attn_implementation("eager")  # sdpa does not return attention weights
    try:
        res = whisper(encoder_outputs=(enc,), decoder_input_ids=ids, output_attentions=True)
    finally:
        whisper.set_attn_implementation(impl)
    rows = slice(len(prompt) - 1, len(prompt) + len(tokens))  # the positions that predict the tokens and the end
    att = torch.stack([res.cross_attentions[layer][0, head, rows] for layer, head in heads]).float().cpu().numpy()
    probs = torch.softmax(res.logits[0, rows].float(), -1)[torch.arange(len(tokens)), torch.tensor(tokens)]
    frames = WHISPER_FRAMES if audio is None else len(audio) // HOP
    t, f = attention_path(att, frames // 2)
    words = split_words(tokens, lambda ids: tok.decode(ids, skip_special_tokens=True), eot)
    speech = None if audio is None else speech_frames(audio)
    return words_from_path(words, t, f, probs.tolist(), end=frames * HOP / SAMPLE_RATE, speech=speech)
