"""Decoding speed of the Auto-AVSR models (visual, audio, audio-visual) and of the subword
Transformer LM: avsr's implementation beside ESPnet's, same weights, on the CPU.

    python bench/autoavsr.py [--kinds vsr asr avsr] [--seconds 10] [--beams 40] [--ref-beams 40]
                             [--lm] [--lm-prefixes 10 50 150] [--threads 2]

For each of ``--kinds`` builds the full-size model (d 768, 12 encoder and 6 decoder layers) with
random weights: the ESPnet-built reference (tests/autoavsr_reference.py; needs ``pip install
--no-deps espnet==202511``) is randomised and avsr's model loaded from it, as from a published
file, so both compute the same thing (without espnet avsr's default initialisation is timed and
nothing is compared). Input: ``--seconds`` of random 88x88 frames at 25 fps and/or a random 16 kHz
waveform of the same length. Times, per kind, avsr's encoder (and the reference's, same input),
avsr's joint CTC/attention search at each of ``--beams`` (with ``--lm`` also with the full-size
LM fused at weight 0.3, the published 19.1% configuration), CTC prefix beam search and CTC greedy;
prints real-time factors (decoding seconds per second of input, encoder included).

On the first of ``--kinds`` (the searches do not depend on the kind: same decoder, same sizes)
it also runs ESPnet's ``BatchBeamSearch`` (the decoder the published numbers come from) at each
of ``--ref-beams`` (none: skip it), with ``--lm`` also with ESPnet's ``TransformerLM``, on the
same encoder output (avsr's search runs at those beams too), and prints avsr's speed-up over it
and whether the top-5 hypotheses are identical. ``--lm-prefixes`` times one LM step for 40
hypotheses at those prefix lengths: avsr's ``TransformerLM.step`` (keys and values of earlier
positions cached) against ESPnet's ``batch_score`` (which recomputes every layer's keys and
values over the whole prefix).

Every speed is a ratio to the reference measured in the same run; nothing is asserted. With
random weights the text is meaningless and hypotheses almost never end early (without the LM
none did in runs of 2 s and more), so a search runs the full ``frames`` steps: the slowest case.
The random LM can make ``<eos>`` win, and a search may then stop early by end detection (both
implementations at the same step: same semantics). The table's top-1 column says how the best
hypothesis ended ("forced": at the last frame).
"""

import argparse
import importlib.util
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FPS, HOP, N_LM = 25, 640, 40  # video frames a second, audio samples a frame, hypotheses per LM step


def _reference_module():
    """tests/autoavsr_reference.py, loaded from its file (the ESPnet-built reference models)."""
    spec = importlib.util.spec_from_file_location("autoavsr_reference", ROOT / "tests" / "autoavsr_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def _models(kind, mod):
    """(avsr's model, the reference or None), same random weights."""
    from avsr.vsr.autoavsr import AutoAVSR, AutoAVSRConfig
    from avsr.vsr.autoavsr_files import to_ours

    model = AutoAVSR(AutoAVSRConfig(kind=kind)).eval()
    if mod is None:
        return model, None
    ref = mod.Reference(kind=kind, d=768, heads=12, ffn=3072, enc_layers=12, dec_layers=6, hidden=8192).randomise(0)
    model.load_state_dict(to_ours(mod.peer_state_dict(ref)))
    return model, ref


def _lms(mod):
    """(avsr's full-size LM, ESPnet's or None), same random weights."""
    from avsr.vsr.lm import LMConfig, TransformerLM

    lm = TransformerLM(LMConfig()).eval()
    if mod is None:
        return lm, None
    ref, _ = mod.lm_reference(vocab=5049, layers=16, d=512, heads=8, ffn=2048, embed=128)
    lm.load_state_dict(mod.lm_peer_state_dict(ref))
    return lm, ref


def _lm_steps(lm, lm_ref, prefixes, eos, reps=7):
    """Per prefix length: (avsr's step, its step plus the reorder of its cache to the surviving
    hypotheses' parents, what a search step pays; ESPnet's batch_score or None, which stacks the
    per-hypothesis states itself; max |diff| of their log-probabilities). Seconds, best of
    ``reps``: the two alternate, and the best run is the one least disturbed by other work."""
    import torch

    out = []
    g = torch.Generator().manual_seed(1)
    for n in prefixes:
        ys = torch.randint(1, eos, (N_LM, n), generator=g)
        ys[:, 0] = eos  # <sos>
        parent = torch.randint(0, N_LM, (N_LM,), generator=g)
        ours, select, theirs, diff = [], [], [], float("nan")
        with torch.inference_mode():
            state = lm.init_state(N_LM, "cpu")
            for j in range(n - 1):
                state = lm.step(ys[:, j], state)[1]
            st = [None] * N_LM
            if lm_ref is not None and n > 1:
                st = lm_ref.batch_score(ys[:, :-1], st, None)[1]
            for _ in range(reps):
                (logp, new), t = _timed(lm.step, ys[:, -1], state)
                ours.append(t)
                select.append(t + _timed(new.select, parent)[1])
                if lm_ref is not None:
                    (ref_logp, _), t = _timed(lm_ref.batch_score, ys, st, None)
                    theirs.append(t)
                    diff = (ref_logp - logp).abs().max().item()
        out.append((n, min(ours), min(select), min(theirs) if theirs else None, diff))
    return out


def _tokens(nbest, eos):
    return [[x for x in h.yseq[1:].tolist() if x != eos] for h in nbest[:5]]


def main() -> None:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--kinds", nargs="+", choices=("vsr", "asr", "avsr"), default=["vsr", "asr", "avsr"])
    ap.add_argument("--seconds", type=float, default=10.0, help="input length (random weights: steps = 25 a second)")
    ap.add_argument("--beams", type=int, nargs="+", default=[40], help="beams of avsr's joint search")
    ap.add_argument(
        "--ref-beams", type=int, nargs="*", default=[40], help="beams to run ESPnet's search at (none: skip it)"
    )
    ap.add_argument("--lm", action="store_true", help="also search with the full-size LM (weight 0.3)")
    ap.add_argument(
        "--lm-prefixes",
        type=int,
        nargs="*",
        default=[10, 50, 150],
        help="prefix lengths to time one LM step at (none: skip)",
    )
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from avsr.vsr.autoavsr import fit_audio, standardise
    from avsr.vsr.decode import beam_search, greedy_decode
    from avsr.vsr.search import JointSearch, SearchConfig

    torch.set_num_threads(args.threads)
    mod = _reference_module() if importlib.util.find_spec("espnet") is not None else None
    if mod is None and (args.ref_beams or args.lm_prefixes):
        print("espnet is not installed (pip install --no-deps espnet==202511): no reference timings")
        args.ref_beams = []
    sec, frames = args.seconds, round(args.seconds * FPS)
    g = torch.Generator().manual_seed(0)
    video = torch.randn(1, 1, frames, 88, 88, generator=g)
    audio = standardise(fit_audio(torch.randn(frames * HOP, generator=g), frames))
    lengths = torch.tensor([frames])
    lm = lm_ref = None
    if args.lm or args.lm_prefixes:
        lm, lm_ref = _lms(mod)
    print(f"{frames} frames ({sec:g} s), {args.threads} threads, random weights", flush=True)

    rows = []  # (kind, name, search seconds or None, RTF, ratio text, identical text, end text)
    for ki, kind in enumerate(args.kinds):
        model, ref = _models(kind, mod)
        eos = model.cfg.eos
        n_par = sum(p.numel() for p in model.parameters()) / 1e6
        uses_video, uses_audio = "video" in model.uses, "audio" in model.uses
        inp = {"video": video if uses_video else None, "audio": [audio] if uses_audio else None}
        short = {
            "video": video[:, :, :FPS] if uses_video else None,
            "audio": [audio[: FPS * HOP]] if uses_audio else None,
        }
        with torch.inference_mode():
            model.encode(lengths=lengths.clamp(max=FPS), **short)  # warm-up: first-call allocations
            (enc, _), t_enc = _timed(model.encode, lengths=lengths, **inp)
            logp = model.ctc_log_probs(enc)
        enc_ratio = ""
        if ref is not None:
            rin = {"video": inp["video"], "audio": audio if uses_audio else None}
            with torch.inference_mode():
                ref.encode(video=short["video"], audio=short["audio"][0] if uses_audio else None)
                enc_ref, t_ref = _timed(ref.encode, **rin)
            diff = (enc_ref - enc).abs().max().item()
            enc_ratio = f"{t_ref / t_enc:.2f}x"
            del enc_ref
        print(f"{kind}: {n_par:.0f} M parameters, encoder {t_enc:.2f} s {enc_ratio}", flush=True)
        rows.append((kind, f"encoder ({n_par:.0f} M parameters)", None, t_enc / sec, enc_ratio, "", ""))
        if ref is not None:
            rows.append((kind, f"ESPnet encoder, max |diff| {diff:.0e}", None, t_ref / sec, "1.0x", "", ""))
        compare = ki == 0 and ref is not None and args.ref_beams
        beams = sorted(set(args.beams) | (set(args.ref_beams) if compare else set()), reverse=True)
        ours = {}
        for use_lm in (False, True) if args.lm else (False,):
            for beam in beams:
                cfg = SearchConfig(beam=beam, nbest=5, lm_weight=0.3 if use_lm else 0.0)
                search = JointSearch(model.decoder, cfg, eos, eos, lm=lm if use_lm else None)
                hyps, t = _timed(search, enc, lengths, logp)
                ours[beam, use_lm] = (hyps[0], t)
                top = hyps[0][0]
                end = f"{len(top.tokens)} units, {'forced' if top.forced_end else '<eos>'}"
                name = f"avsr joint{' + LM' if use_lm else ''}, beam {beam}"
                print(f"  {name}: {t:.2f} s", flush=True)
                rows.append([kind, name, t, (t + t_enc) / sec, "", "", end])
        _, t = _timed(beam_search, logp, lengths, 10, candidates=16)
        rows.append((kind, "avsr CTC prefix, beam 10", t, (t + t_enc) / sec, "", "", ""))
        _, t = _timed(greedy_decode, logp, lengths)
        rows.append((kind, "avsr CTC greedy", t, (t + t_enc) / sec, "", "", ""))
        for beam in args.ref_beams if compare else []:
            for use_lm in (False, True) if args.lm else (False,):
                lm_kw = {"lm": lm_ref, "lm_weight": 0.3} if use_lm else {}
                nb, t = _timed(ref.beam_search, enc[0], beam, 0.1, **lm_kw)
                hyps, t_ours = ours[beam, use_lm]
                same = "yes" if _tokens(nb, eos) == [h.tokens for h in hyps] else "NO"
                for row in rows:  # avsr's row: its speed-up, search alone and encoder included
                    if row[0] == kind and row[1] == f"avsr joint{' + LM' if use_lm else ''}, beam {beam}":
                        row[4] = f"{t / t_ours:.1f}x ({(t + t_enc) / (t_ours + t_enc):.1f}x)"
                        row[5] = same
                end = f"{len(_tokens(nb, eos)[0])} units"
                name = f"ESPnet BatchBeamSearch{' + LM' if use_lm else ''}, beam {beam}"
                print(f"  {name}: {t:.2f} s", flush=True)
                rows.append((kind, name, t, (t + t_enc) / sec, "1.0x", "", end))
        del model, ref, enc, logp

    print(f"\n{'kind':<6}{'decoder':<42}{'seconds':>9}{'RTF':>8}  {'vs ESPnet':<15}{'identical':<11}top-1")
    for kind, name, t, rtf, ratio, same, end in rows:
        secs = f"{t:.2f}" if t is not None else ""
        print(f"{kind:<6}{name:<42}{secs:>9}{rtf:>8.3f}  {ratio:<15}{same:<11}{end}")
    print("RTF: seconds per second of input, avsr's encoder included (the ESPnet encoder row: its own);")
    print("vs ESPnet: ESPnet's time / avsr's, same run; searches: search alone (encoder included)")
    if args.lm_prefixes:
        print(f"\nOne LM step, {N_LM} hypotheses (full-size LM), milliseconds")
        print(
            f"{'prefix':>6}{'avsr step':>11}{'+ reorder':>11}{'ESPnet batch_score':>20}{'ESPnet/avsr':>15}  max |diff|"
        )
        for n, t, t_sel, t_ref, diff in _lm_steps(lm, lm_ref, args.lm_prefixes, 5048):
            theirs = f"{t_ref * 1e3:.1f}" if t_ref is not None else ""
            ratio = f"{t_ref / t:.1f}x ({t_ref / t_sel:.1f}x)" if t_ref is not None else ""
            diff = f"{diff:.1e}" if t_ref is not None else ""
            print(f"{n:>6}{t * 1e3:>11.1f}{t_sel * 1e3:>11.1f}{theirs:>20}{ratio:>15}  {diff}")
        print("ESPnet/avsr: to the step alone (to step + reorder)")


if __name__ == "__main__":
    main()
