"""The phoneme-to-text prompt and its token encoding, shared by training, generation and rescoring.

Prompt format (plain text, so any causal LM works, instruct-tuned or not)::

    Phonemes: DH AH | K AE T | S AE T
    Text: the cat sat<eos>

The phonemes are ARPAbet without stress, ``|`` between words. Training scores only the answer
(`` the cat sat`` and the end-of-sequence token); the prompt's labels are -100. Generation is
greedy (or a beam n-best, for the rescoring of :mod:`avsr.p2t.rescore`) and stops at
end-of-sequence or a newline.

With ``hint: lexicon`` the prompt also carries the dictionary-lookup reading of the same
phonemes (:class:`avsr.p2t.lexicon.DictionaryDecoder`), and the LM learns to correct it from
context (generative error correction in the manner of HyPoradise, Chen et al. 2023)::

    Phonemes: DH AH | K AE T | S AE D | AH N | DH AH | M AE T S
    Lexicon: the cat sad on the mats?
    Text: the cat sat on the mat<eos>

A ``?`` marks a word whose phonemes matched no dictionary pronunciation (the lookup took the
nearest one): the places where the lookup guessed.
"""

from __future__ import annotations

import torch

PROMPT = "Phonemes: {phonemes}\nText:"
PROMPT_HINT = "Phonemes: {phonemes}\nLexicon: {hint}\nText:"
HINTS = ("none", "lexicon")
IGNORE = -100  # label of tokens that are not scored


def format_prompt(phonemes: list[str], hint: str | None = None) -> str:
    if hint is None:
        return PROMPT.format(phonemes=" ".join(phonemes))
    return PROMPT_HINT.format(phonemes=" ".join(phonemes), hint=hint)


def prepare_tokenizer(tok):
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def encode_example(
    tok, phonemes: list[str], text: str, max_length: int, hint: str | None = None
) -> dict[str, list[int]]:
    """input_ids and labels for one training pair; only the answer and EOS are scored."""
    prompt = tok(format_prompt(phonemes, hint), add_special_tokens=False)["input_ids"]
    answer = tok(" " + text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    bos = [tok.bos_token_id] if getattr(tok, "add_bos_token", False) and tok.bos_token_id is not None else []
    room = max_length - len(answer) - len(bos)
    if room < 8:
        raise ValueError(f"answer of {len(answer)} tokens does not fit max_length={max_length}")
    prompt = prompt[-room:]
    ids = bos + prompt + answer
    return {"input_ids": ids, "labels": [IGNORE] * (len(bos) + len(prompt)) + answer}


def collate_examples(batch: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a training batch; padding is masked out of attention and loss."""
    n = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for i, b in enumerate(batch):
        k = len(b["input_ids"])
        ids[i, :k] = torch.tensor(b["input_ids"])
        labels[i, :k] = torch.tensor(b["labels"])
        mask[i, :k] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def answer_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens: the value of ``model(**batch).loss``, with the
    vocabulary projection computed only at the positions that predict an answer token. Prompts
    are most of each example (~85% of the tokens with ``hint: lexicon``), so this removes most
    of the projection and its log-softmax: on CPU they were a fifth of a training step."""
    import torch.nn.functional as F

    labels = batch["labels"]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE  # position t predicts token t + 1
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
    return F.cross_entropy(logits.float(), labels[:, 1:][keep[:, :-1]])
