"""``avsr eval asr|avsr|vsr``: evaluation on an LRS2/LRS3 test manifest (:mod:`avsr.evaluation`)."""

from __future__ import annotations

import os

from avsr.cli.common import decoding_args, decoding_options, model_args, progress_arg, show_progress


def add(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate on a test manifest: LRS2/LRS3 or your own (WER with bootstrap CI, noise, tables, plots, report)",
        description="Evaluate a system on a test manifest: any JSONL with id, text and audio (asr) or roi crops "
        "(avsr, vsr); data_prep/lrs3.py or lrs2.py writes OUT/test/manifest.jsonl, whose published LRS2/LRS3 "
        "numbers are shown beside the run's. "
        "Writes OUT/utterances.jsonl, results.md, results.csv, wer_vs_snr.png, report.html, run.json.",
    )
    esub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    for what, help_ in (
        ("asr", "frozen Whisper, the noise-routed default and adapter sets, audio only, clean and under noise"),
        ("avsr", "as asr, with the sets' fusion: audio + mouth crops, clean and under noise"),
    ):
        a = esub.add_parser(
            what,
            help=help_,
            description=help_ + ". Noise: --noise-sources (data_prep/audio.py) mixes every "
            "category at every SNR, seeded per utterance: two runs give identical numbers.",
        )
        _eval_common(a)
        model_args(a, "whisper", "adapters", "classifier", "router")
        a.add_argument(
            "--sets",
            nargs="+",
            metavar="SET",
            help="systems to evaluate: 'none' = frozen Whisper, 'routed' = each mixture with the set the noise "
            "classifier and router pick (what `avsr transcribe` does by default), or a set's name (default: none, "
            "routed when there is a classifier, and every set of --adapters)",
        )
        a.add_argument(
            "--noise-sources",
            help="noise-sources JSONL (data_prep/audio.py writes OUT/noise_sources.jsonl); test split is used",
        )
        a.add_argument(
            "--categories", nargs="+", metavar="CATEGORY", help="noise categories (default: all the sources can make)"
        )
        a.add_argument(
            "--snrs",
            nargs="+",
            metavar="SNR",
            help="'clean' and/or SNRs in dB (default: clean 10 5 0 -5 -10; clean only without --noise-sources)",
        )
        model_args(
            a,
            "beam",
            "engine",
            "compute_type",
            "quantize",
            beam="beam size (Whisper default 1: greedy; Auto-AVSR joint 40 as published)",
        )
        g = a.add_argument_group("the published Auto-AVSR audio / audio-visual models instead of Whisper")
        model_args(g, "asr", "avsr", "tokens", "ctc_weight", "lm", "lm_config", "lm_weight")
        model_args(g, "decode", decode="Auto-AVSR: joint (default: attention + CTC beam search) | ctc (encoder only)")
        decoding_args(a)
        a.set_defaults(func=_cmd_eval_whisper)
    v = esub.add_parser(
        "vsr",
        help="lip reading: PER of a checkpoint; with --p2t also WER and the run folder",
        description="Lip-read the manifest's crops. Without --p2t: phoneme error rate (-o: per-utterance JSONL). With "
        "--p2t ADAPTER|lexicon: phonemes -> words, WER and PER, and -o is the run folder.",
    )
    v.add_argument(
        "--ckpt",
        required=True,
        help="checkpoint folder (model.safetensors + config.json), or a published Auto-AVSR .pth (with --tokens)",
    )
    v.add_argument("--tokens", help="Auto-AVSR units file unigram5000_units.txt (with a .pth --ckpt)")
    v.add_argument("--ctc-weight", type=float, default=0.1, help="Auto-AVSR joint decoding: CTC weight (0.1)")
    _eval_common(v, out_required=False)
    v.add_argument("--p2t", help="phoneme-to-text adapter folder (avsr train p2t), or 'lexicon' for dictionary lookup")
    v.add_argument(
        "--lexicon-counts",
        help="with --p2t lexicon: JSON word -> count file for the spelling choice "
        "(e.g. an adapter's lexicon_counts.json)",
    )
    v.add_argument(
        "--decode",
        choices=["greedy", "beam", "joint", "ctc"],
        help="avsr VSR: greedy (default) | beam; Auto-AVSR: joint (default) | ctc",
    )
    v.add_argument("--beam", type=int, help="beam size (avsr VSR 8; Auto-AVSR joint 40, ctc 1 = greedy)")
    model_args(v, "lm", "lm_config", "lm_weight")
    v.set_defaults(func=_cmd_eval_vsr)


def _eval_common(p, out_required: bool = True) -> None:
    p.add_argument("--manifest", required=True, help="test manifest JSONL (id, text, audio / roi crops)")
    p.add_argument(
        "-o",
        "--out",
        required=out_required,
        help="output folder" + ("" if out_required else " (without --p2t: per-utterance JSONL file)"),
    )
    p.add_argument(
        "--corpus",
        choices=["LRS2", "LRS3"],
        help="show the published numbers of this corpus beside the run's (default: guessed from the manifest "
        "path; none for another test set)",
    )
    p.add_argument("--published", help="published-numbers YAML (default: eval/published.yaml of the source checkout)")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples for the 95%% interval (default 1000; 0: none)",
    )
    p.add_argument("--seed", type=int, default=0, help="noise and bootstrap seed (default 0)")
    p.add_argument("--limit", type=int, help="first N utterances only")
    model_args(p, "batch_size", "device")
    progress_arg(p)


def _eval_setup(args) -> dict:
    """Arguments shared by every `avsr eval` run, checked; UsageError on bad ones."""
    from avsr.core.errors import UsageError
    from avsr.evaluation.published import DEFAULT_PATH, guess_corpus

    if not os.path.isfile(args.manifest):
        raise UsageError(
            f"--manifest {args.manifest}: no such file "
            "(data_prep/lrs3.py or data_prep/lrs2.py writes OUT/test/manifest.jsonl)"
        )
    if args.out and os.path.isfile(args.out):
        raise UsageError(f"-o {args.out}: is a file; give a folder for the run's results")
    for name in ("bootstrap", "batch_size", "limit"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "bootstrap" else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'bootstrap' else '>= 1'}, got {v}")
    corpus = args.corpus or guess_corpus(args.manifest)  # None: a test set of the user's own (no published rows)
    if args.published and not os.path.isfile(args.published):
        raise UsageError(f"--published {args.published}: no such file")
    return {
        "corpus": corpus,
        "published": args.published or DEFAULT_PATH,
        "seed": args.seed,
        "resamples": args.bootstrap,
        "limit": args.limit,
        "progress": show_progress(args.progress),
    }


def _cmd_eval_whisper(args) -> int:
    from avsr.core.errors import UsageError
    from avsr.evaluation.conditions import DEFAULT_SNRS, parse_snrs
    from avsr.evaluation.systems import evaluate_whisper
    from avsr.recognizers.options import ModelOptions

    common = _eval_setup(args)
    clean, snrs = parse_snrs(args.snrs) if args.snrs else (True, DEFAULT_SNRS)
    if args.snrs and snrs and not args.noise_sources:
        raise UsageError(
            f"--snrs {' '.join(args.snrs)}: noisy conditions need --noise-sources JSONL (data_prep/audio.py writes one)"
        )
    if args.sets and any(s != "none" for s in args.sets) and not args.adapters:
        raise UsageError("--sets names adapter sets: give --adapters FOLDER")
    opts = ModelOptions.from_args(args, decoding=decoding_options(args, args.beam))
    opts.check()
    rows, _ = evaluate_whisper(
        args.manifest,
        args.out,
        system=args.what,
        options=opts,
        sets=args.sets,
        noise_sources=args.noise_sources,
        categories=args.categories,
        snrs=snrs,
        clean=clean,
        **common,
    )
    _print_run(rows, args.out)
    return 0


def _cmd_eval_vsr(args) -> int:
    from avsr.core.errors import UsageError
    from avsr.recognizers.checkpoints import load_checkpoint
    from avsr.recognizers.load import is_autoavsr_file

    if is_autoavsr_file(args.ckpt):
        return _eval_autoavsr(args)
    if args.decode in ("joint", "ctc") or args.tokens:
        raise UsageError("--decode joint|ctc and --tokens apply to a published Auto-AVSR .pth checkpoint")
    args.decode, args.beam = args.decode or "greedy", args.beam or 8

    if args.p2t:
        if not args.out:
            raise UsageError("--p2t writes a run folder: give -o OUT")
        return _run_lipreading(args)
    from avsr.evaluation.vsr import evaluate_vsr

    model = load_checkpoint(args.ckpt, device=args.device)
    res = evaluate_vsr(
        model, args.manifest, args.decode, args.beam, out=args.out, progress=show_progress(args.progress)
    )
    print(
        f"PER {100 * res.per:.2f}% on {res.utterances} utterances ({args.decode})"
        + (f" -> {args.out}" if args.out else "")
    )
    return 0


def _eval_autoavsr(args) -> int:
    from avsr.core.errors import UsageError

    if not args.out:
        raise UsageError("an Auto-AVSR evaluation writes a run folder: give -o OUT")
    if args.p2t:
        raise UsageError("an Auto-AVSR checkpoint outputs words: --p2t does not apply")
    if args.decode not in (None, "joint", "ctc"):
        raise UsageError(f"--decode {args.decode}: an Auto-AVSR checkpoint decodes with joint (default) or ctc")
    return _run_lipreading(args)


def _run_lipreading(args) -> int:
    from avsr.evaluation.systems import evaluate_lipreading
    from avsr.recognizers.options import ModelOptions

    common = _eval_setup(args)
    opts = ModelOptions.from_args(args, vsr=args.ckpt)
    rows, _ = evaluate_lipreading(
        args.manifest, args.out, options=opts, lexicon_counts=getattr(args, "lexicon_counts", None), **common
    )
    _print_run(rows, args.out)
    return 0


def _print_run(rows, out) -> None:
    from avsr.evaluation.systems import describe

    print("\n".join(describe(rows)))
    print(f"-> {out}/results.md, results.csv, utterances.jsonl, report.html")
