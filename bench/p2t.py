"""Phoneme-to-text generation speed on CPU: the offline SmolLM2-135M with a LoRA adapter,
unmerged vs merged into the weights, in one run. Prints tokens/s and the ratio, then the cost
of each decoding option per sentence (dictionary lookup and the word bigram for reference; the
LLM greedy; then rescoring of its sentence and the lookup's reading, hybrids, the word bigram's
reading, a word-lattice search with beam 4, each added to the one before), then the
CPU training step (bf16 autocast, lexicon-hint examples): the full forward with
VALLR's LoRA dropout 0.05 vs the CPU config's step (logits only at answer positions, no
dropout).

    python bench/p2t.py [--adapter checkpoints/p2t/smollm2-135m-lexicon] [--tokens 32] [--batch 1 8] [--skip-train]

Without --adapter a freshly initialised LoRA (r=16 on all projections) is used: the speed does
not depend on its values. Each timing is the fastest of three runs; exactly --tokens new tokens
are generated per sequence.
"""

import argparse
import copy
import time

import torch

from avsr.data.phoneme_errors import ErrorConfig, corrupt, sentence_rng
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.p2t.model import P2TConfig, PhonemeToText, add_lora, load_base, load_p2t
from avsr.p2t.prompt import IGNORE, answer_loss, collate_examples, encode_example, format_prompt
from avsr.p2t.rescore import DecodingConfig
from avsr.text import g2p

SENTENCE = "the quick brown fox jumps over the lazy dog near the river bank"
SENTENCES = [
    "a critic is a bundle of biases held loosely together by a sense of taste",
    "go forward ten meters",
    "will you please have your master call my master at his convenience",
    "she had your dark suit in greasy wash water all year",
    "experience teaches us that silence terrifies people the most",
    "the cat sat on the mat",
    "forms follow function and often obliterate it",
    "but then some people are terrified to be seen carrying a modern screen magazine",
] * 2


def sentences_per_s(p2t: PhonemeToText, phonemes: list[list[str]], decoding: DecodingConfig, batch: int) -> float:
    """Set decodings (not the adapter's decoding.json), so that runs of different adapters compare."""
    p2t.decoding = decoding
    p2t(phonemes[:2], batch)  # warm-up

    def once():
        t = time.perf_counter()
        p2t(phonemes, batch)
        return time.perf_counter() - t

    return len(phonemes) / min(once() for _ in range(2))


@torch.inference_mode()
def tokens_per_s(model, tok, batch: int, tokens: int) -> float:
    tok.padding_side = "left"
    enc = tok([format_prompt(g2p(SENTENCE))] * batch, return_tensors="pt", padding=True)
    model.generate(**enc, max_new_tokens=2, min_new_tokens=2, do_sample=False, pad_token_id=tok.pad_token_id)

    def once():
        t = time.perf_counter()
        model.generate(
            **enc, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=tok.pad_token_id
        )
        return time.perf_counter() - t

    return batch * tokens / min(once() for _ in range(3))


def train_step_s(model, batch: dict[str, torch.Tensor], loss_fn) -> float:
    """Seconds of one optimizer step (forward, backward, AdamW), fastest of three after a warm-up."""
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def once():
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return time.perf_counter() - t

    once()
    return min(once() for _ in range(3))


def training(lexicon) -> None:
    full = lambda m, b: m(**b).loss  # noqa: E731
    base, tok = load_base(P2TConfig())
    exs = []
    for i, t in enumerate(SENTENCES):
        noisy = corrupt(g2p(t), ErrorConfig(rate=0.2), sentence_rng(1, str(i)))
        exs.append(encode_example(tok, noisy, t, 384, lexicon(noisy, mark_guesses=True)))
    batch = collate_examples(exs, tok.pad_token_id)
    scored = int((batch["labels"] != IGNORE).sum())
    print(
        f"  training step, batch {tuple(batch['input_ids'].shape)} "
        f"({scored} answer tokens of {int(batch['attention_mask'].sum())}), bf16 autocast:"
    )
    times = {}
    for name, dropout, loss_fn in [
        ("full logits, LoRA dropout 0.05 (VALLR)", 0.05, full),
        ("full logits, no dropout", 0.0, full),
        ("answer logits, no dropout (CPU config)", 0.0, answer_loss),
    ]:
        model = add_lora(copy.deepcopy(base), P2TConfig(lora_dropout=dropout))
        torch.manual_seed(0)
        times[name] = train_step_s(model, batch, loss_fn)
        first = next(iter(times.values()))
        print(f"    {name}: {times[name]:.2f} s/step | {first / times[name]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adapter")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--skip-train", action="store_true", help="skip the training-step timing")
    ap.add_argument("--sentences", type=int, default=len(SENTENCES), help="sentences timed per decoding option")
    args = ap.parse_args()
    if args.adapter:
        p2t = load_p2t(args.adapter)
        lora, tok, cfg = p2t.model, p2t.tok, p2t.cfg
    else:
        cfg = P2TConfig()
        base, tok = load_base(cfg)
        lora = add_lora(base, cfg).eval()
    merged = copy.deepcopy(lora).merge_and_unload().eval()
    print(f"{cfg.base}, LoRA r={cfg.lora_r}, {torch.get_num_threads()} threads, {args.tokens} new tokens")
    for b in args.batch:
        a, m = tokens_per_s(lora, tok, b, args.tokens), tokens_per_s(merged, tok, b, args.tokens)
        print(f"  batch {b}: LoRA unmerged {a:6.1f} tok/s | merged {m:6.1f} tok/s | merged/unmerged {m / a:.2f}x")
    # rescoring: the LM scores its sentence and the other candidates, and all are G2P'd
    lexicon = p2t.lexicon if args.adapter and p2t.lexicon is not None else DictionaryDecoder()
    bigram = p2t.bigram if args.adapter else None
    decoder = PhonemeToText(merged, tok, cfg, lexicon, None, bigram)
    noisy = [
        corrupt(g2p(t), ErrorConfig(rate=0.2), sentence_rng(0, str(i)))
        for i, t in enumerate(SENTENCES[: args.sentences])
    ]
    print(f"  whole sentences ({len(noisy)}, 20% phoneme errors, batch 8, merged), each option added to the one above:")
    t0 = time.perf_counter()
    for ph in noisy:
        lexicon(ph)
    print(f"    dictionary lookup: {1000 * (time.perf_counter() - t0) / len(noisy):.1f} ms/sentence (lookups cached)")
    if bigram is not None:
        t0 = time.perf_counter()
        bigram.batch(noisy)
        print(f"    word bigram + lexicon: {1000 * (time.perf_counter() - t0) / len(noisy):.1f} ms/sentence")
    h = bigram is not None
    options = [
        ("LLM greedy", DecodingConfig()),
        ("+ rescoring (LLM sentence, lookup)", DecodingConfig(rescore=True)),
        ("+ hybrids", DecodingConfig(rescore=True, hybrids=True)),
        *([("+ word bigram and its hybrids", DecodingConfig(rescore=True, hybrids=True, bigram=True))] if h else []),
        ("+ word lattice (beam 4) and LM prior", DecodingConfig(rescore=True, hybrids=True, bigram=h, lattice=4)),
    ]
    first = None
    for name, decoding in options:
        rate = sentences_per_s(decoder, noisy, decoding, 8)
        first = first or rate
        print(f"    {name}: {1000 / rate:.0f} ms/sentence | {first / rate:.2f}x the greedy time")
    if not args.skip_train:
        training(lexicon)


if __name__ == "__main__":
    main()
