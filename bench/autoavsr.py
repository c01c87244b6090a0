"""Decoding speed of the Auto-AVSR visual model: avsr's searches beside ESPnet's, same weights.

    python bench/autoavsr.py [--seconds 10] [--beams 40 10] [--ref-beams 40] [--threads 2]

Builds the full-size model (250 M parameters) with random weights, runs the encoder once on
``--seconds`` of 88x88 input frames at 25 fps, then times on that encoder output: avsr's joint
CTC/attention search at each beam, CTC prefix beam search and CTC greedy, and the ESPnet
reference's ``BatchBeamSearch`` (the decoder Auto-AVSR publishes its numbers with; needs
``pip install --no-deps espnet==202511``) at ``--ref-beams``. Prints real-time factors (decoding
seconds per second of video, encoder included) and each search's speed-up over the reference at
the same beam, and whether the hypotheses are identical. With random weights the text is
meaningless and no hypothesis ends early, so every search runs the full ``frames`` steps: the
slowest case.
"""

import argparse
import importlib.util
import time
from pathlib import Path

import torch

from avsr.vsr.autoavsr import AutoAVSR, AutoAVSRConfig
from avsr.vsr.decode import beam_search, greedy_decode
from avsr.vsr.search import JointSearch, SearchConfig

ROOT = Path(__file__).resolve().parents[1]


def _reference_module():
    """tests/autoavsr_reference.py, loaded from its file (the ESPnet-built reference model)."""
    spec = importlib.util.spec_from_file_location("autoavsr_reference", ROOT / "tests" / "autoavsr_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--beams", type=int, nargs="+", default=[40, 10])
    ap.add_argument("--ref-beams", type=int, nargs="*", default=[40], help="beams to time ESPnet at (none: skip it)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = AutoAVSRConfig()
    model = AutoAVSR(cfg).eval()
    frames = round(args.seconds * 25)
    video = torch.randn(1, frames, 88, 88)
    lengths = torch.tensor([frames])
    with torch.inference_mode():
        model.encode(video[:, :25], lengths.clamp(max=25))  # warm-up: first-call allocations
        enc, t_enc = _timed(model.encode, video, lengths)
        logp = model.ctc_log_probs(enc)
    sec = args.seconds
    n = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"Auto-AVSR visual model, {n:.0f} M parameters, random weights")
    print(f"{frames} frames ({sec:g} s), {args.threads} threads; encoder {t_enc:.2f} s (RTF {t_enc / sec:.3f})")
    rows = []
    ours = {}
    for beam in args.beams:
        search = JointSearch(model.decoder, SearchConfig(beam=beam, nbest=5), cfg.eos, cfg.eos)
        hyps, t = _timed(search, enc, lengths, logp)
        ours[beam] = hyps[0]
        rows.append((f"avsr joint, beam {beam}", t, beam))
    _, t = _timed(lambda: beam_search(logp, lengths, 10, candidates=16))
    rows.append(("avsr CTC prefix beam 10", t, None))
    _, t = _timed(lambda: greedy_decode(logp, lengths))
    rows.append(("avsr CTC greedy", t, None))
    ref_times, same = {}, {}
    if importlib.util.find_spec("espnet") is not None:
        mod = _reference_module()
        ref = mod.Reference(d=768, heads=12, ffn=3072, enc_layers=12, dec_layers=6).eval()
        ref.load_state_dict(model.state_dict())
        with torch.inference_mode():
            ref.encode(video[:, None, :25])
            enc_ref, t_ref = _timed(ref.encode, video[:, None])
        diff = (enc_ref - enc).abs().max().item()
        print(
            f"ESPnet reference encoder {t_ref:.2f} s (RTF {t_ref / sec:.3f}): "
            f"avsr's is {t_ref / t_enc:.2f}x as fast, max |diff| {diff:.1e}"
        )
    elif args.ref_beams:
        print("espnet is not installed (pip install --no-deps espnet==202511): no reference timings")
        args.ref_beams = []
    if args.ref_beams:
        for beam in args.ref_beams:
            nb, t = _timed(ref.beam_search, enc[0], beam, 0.1)
            ref_times[beam] = t
            rows.append((f"ESPnet BatchBeamSearch, beam {beam}", t, beam))
            if beam in ours:
                theirs = [[x for x in h.yseq[1:].tolist() if x != cfg.eos] for h in nb[:5]]
                same[beam] = theirs == [h.tokens for h in ours[beam]]
    print(f"{'decoder':<34}{'seconds':>9}{'RTF':>8}{'vs ESPnet':>11}  identical top-5")
    for name, t, beam in rows:
        total = t + t_enc
        speed = f"{(ref_times[beam] + t_enc) / total:.1f}x" if beam in ref_times and "avsr" in name else ""
        ident = ("yes" if same[beam] else "NO") if beam in same and "avsr" in name else ""
        print(f"{name:<34}{t:>9.2f}{total / sec:>8.3f}{speed:>11}  {ident}")


if __name__ == "__main__":
    main()
