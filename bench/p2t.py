"""Phoneme-to-text generation speed on CPU: the offline SmolLM2-135M with a LoRA adapter,
unmerged vs merged into the weights, in one run. Prints tokens/s and the ratio.

    python bench/p2t.py [--adapter runs/p2t-smollm2/adapter] [--tokens 32] [--batch 1 8]

Without --adapter a freshly initialised LoRA (r=16 on all projections) is used: the speed does
not depend on its values. Each timing is the fastest of three runs; exactly --tokens new tokens
are generated per sequence.
"""
import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avsr.p2t.model import P2TConfig, add_lora, format_prompt, load_base, load_p2t  # noqa: E402
from avsr.text import g2p  # noqa: E402

SENTENCE = "the quick brown fox jumps over the lazy dog near the river bank"


@torch.inference_mode()
def tokens_per_s(model, tok, batch: int, tokens: int) -> float:
    tok.padding_side = "left"
    enc = tok([format_prompt(g2p(SENTENCE))] * batch, return_tensors="pt", padding=True)
    model.generate(**enc, max_new_tokens=2, min_new_tokens=2, do_sample=False, pad_token_id=tok.pad_token_id)

    def once():
        t = time.perf_counter()
        model.generate(**enc, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        return time.perf_counter() - t

    return batch * tokens / min(once() for _ in range(3))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--adapter")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
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


if __name__ == "__main__":
    main()
