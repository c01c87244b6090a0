"""The ``avsr`` command: parse arguments, call the library, print. Exit codes: 0 success,
1 some inputs failed (the others were processed), 2 usage error."""
from __future__ import annotations

import argparse
import logging
import os
import sys


def _quiet_native_logs() -> None:
    # mediapipe / TFLite log through glog and absl to stderr; keep the terminal for our output
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _add_roi(sub) -> None:
    p = sub.add_parser(
        "roi",
        help="extract mouth (or face) crops from talking-face videos",
        description="Extract stable 25 fps mouth crops. Writes OUT/manifest.jsonl, OUT/errors.jsonl and, per clip, "
        "ID.roi.mkv (lossless crops), ID.landmarks.npz, ID.wav (when the video has audio) and ID.qa.png. "
        "Re-running skips finished clips.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files, folders, list files (.txt: one path a line) or glob patterns")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("-c", "--config", help="YAML file of RoiConfig fields (e.g. configs/roi/face.yaml)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override RoiConfig fields, e.g. --set landmark_stride=2")
    p.add_argument("--mode", choices=["mouth", "face"], help="mouth crop (default) or VALLR-style full face")
    p.add_argument("--size", type=int, help="crop side in pixels (default 96 mouth, 224 face)")
    p.add_argument("--color", action="store_true", default=None, help="RGB crops instead of grey")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: when stderr is a terminal)")
    p.set_defaults(func=_cmd_roi)


def _cmd_roi(args) -> int:
    from avsr.configs import build
    from avsr.roi.batch import UsageError, collect_inputs, run_batch
    from avsr.roi.config import RoiConfig

    if args.jobs < 1:
        raise UsageError("-j/--jobs must be >= 1")
    try:
        cfg = build(RoiConfig, args.config, args.set, mode=args.mode, size=args.size, color=args.color)
    except (ValueError, TypeError, OSError) as e:
        raise UsageError(str(e)) from e
    jobs, errors = collect_inputs(args.inputs)
    res = run_batch(jobs, args.out, cfg, workers=args.jobs, progress=args.progress, errors=errors)
    print(f"{res.done} clips extracted, {res.skipped} already done, {len(res.failed)} failed -> {args.out}/manifest.jsonl")
    for e in res.failed[:20]:
        print(f"  failed: {e['id']}: {e['error']}", file=sys.stderr)
    if len(res.failed) > 20:
        print(f"  ... {len(res.failed) - 20} more in {args.out}/errors.jsonl", file=sys.stderr)
    return res.exit_code


_TRAIN = {  # what: (help, description, config folder)
    "vsr": ("lip reading, stage 1: video -> CTC phonemes", "Train a VSR model. Overrides use dotted keys, e.g. "
            "trainer.max_steps=2000 data.max_frames=1200 trainer.devices=2 trainer.strategy=ddp", "vsr"),
    "p2t": ("lip reading, stage 2: LoRA phoneme-to-text LM, trained on text", "Train the phoneme-to-text LoRA adapter on a "
            "sentence corpus (data_prep/corpus.py). Resumable: run again to continue.", "p2t"),
    "av": ("AVSR: one adapter set (LoRA on frozen Whisper [+ fusion]) on one noise scenario", "Train one adapter set on speech "
           "mixed with noise (data_prep/audio.py writes the manifests), e.g. avsr train av configs/av/babble.yaml trainer.max_steps=200", "av"),
    "noise": ("AVSR: the noise classifier (category + SNR)", "Train the noise classifier on speech mixed with train-split noise "
              "(data_prep/audio.py).", "noise"),
}


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model from a YAML config (Lightning)")
    tsub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    for what, (help_, description, folder) in _TRAIN.items():
        t = tsub.add_parser(what, help=help_, description=description)
        t.add_argument("config", help=f"YAML config (configs/{folder}/*.yaml)")
        t.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
        t.set_defaults(func=_cmd_train, what=what)


def _cmd_train(args) -> int:
    from avsr.configs import build
    from avsr.roi.batch import UsageError

    if args.what == "vsr":
        from avsr.train.recipe import VSRTrainConfig as Config, train_vsr as fit
    elif args.what == "p2t":
        from avsr.train.p2t import P2TTrainConfig as Config, train_p2t as fit
    elif args.what == "av":
        from avsr.train.av import AVTrainConfig as Config, train_av as fit
    else:
        from avsr.train.noise import NoiseTrainConfig as Config, train_noise as fit
    try:
        cfg = build(Config, args.config, args.overrides)
    except (ValueError, TypeError, OSError) as e:
        raise UsageError(str(e)) from e
    for name in ("train", "val"):
        path = getattr(cfg.data, name)
        if (path or name == "train") and not os.path.isfile(path):
            raise UsageError(f"data.{name}={path!r}: no such file (give a manifest/corpus JSONL, e.g. data.{name}=PATH)")
    sources = getattr(cfg.data, "noise_sources", None)
    if sources is not None and not os.path.isfile(sources):
        raise UsageError(f"data.noise_sources={sources!r}: no such file (python data_prep/audio.py ... -o data/audio)")
    final = fit(cfg)
    what = {"vsr": "(averaged) checkpoint", "p2t": "adapter", "av": "adapter set", "noise": "noise classifier"}[args.what]
    print(f"final {what}: {final}")
    return 0


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="evaluate on an LRS2/LRS3 test manifest (WER with bootstrap CI, noise, tables, plots, report)",
                       description="Evaluate a system on a test manifest (data_prep/lrs3.py or lrs2.py writes OUT/test/manifest.jsonl). "
                       "Writes OUT/utterances.jsonl, results.md, results.csv, wer_vs_snr.png, report.html, run.json.")
    esub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    for what, help_ in (("asr", "frozen Whisper (+ adapter sets), audio only, clean and under noise"),
                        ("avsr", "frozen Whisper + adapter sets with their fusion: audio + mouth crops, clean and under noise")):
        a = esub.add_parser(what, help=help_, description=help_ + ". Noise: --noise-sources (data_prep/audio.py) mixes every "
                            "category at every SNR, seeded per utterance: two runs give identical numbers.")
        _eval_common(a)
        a.add_argument("--whisper", default="whisper-base", help="registry name (`avsr models`), CTranslate2 folder, .pt or hub id")
        a.add_argument("--adapters", help="folder of adapter sets (`avsr adapters FOLDER` lists them)")
        a.add_argument("--sets", nargs="+", metavar="SET", help="sets to evaluate, 'none' = frozen Whisper (default: none + every set in --adapters)")
        a.add_argument("--noise-sources", help="noise-sources JSONL (data_prep/audio.py writes OUT/noise_sources.jsonl); test split is used")
        a.add_argument("--categories", nargs="+", metavar="CATEGORY", help="noise categories (default: all the sources can make)")
        a.add_argument("--snrs", nargs="+", metavar="SNR", help="'clean' and/or SNRs in dB (default: clean 10 5 0 -5 -10; clean only without --noise-sources)")
        a.add_argument("--beam", type=int, default=1, help="Whisper beam size (default 1: greedy)")
        a.set_defaults(func=_cmd_eval_whisper)
    v = esub.add_parser("vsr", help="lip reading: PER of a checkpoint; with --p2t also WER and the run folder",
                        description="Lip-read the manifest's crops. Without --p2t: phoneme error rate (-o: per-utterance JSONL). With "
                        "--p2t ADAPTER|lexicon: phonemes -> words, WER and PER, and -o is the run folder.")
    v.add_argument("--ckpt", required=True, help="checkpoint folder (model.safetensors + config.json)")
    _eval_common(v, out_required=False)
    v.add_argument("--p2t", help="phoneme-to-text adapter folder (avsr train p2t), or 'lexicon' for dictionary lookup")
    v.add_argument("--lexicon-counts", help="with --p2t lexicon: JSON word -> count file for the spelling choice (e.g. an adapter's lexicon_counts.json)")
    v.add_argument("--decode", choices=["greedy", "beam"], default="greedy")
    v.add_argument("--beam", type=int, default=8)
    v.set_defaults(func=_cmd_eval_vsr)


def _eval_common(p, out_required: bool = True) -> None:
    p.add_argument("--manifest", required=True, help="test manifest JSONL (id, text, audio / roi crops)")
    p.add_argument("-o", "--out", required=out_required, help="output folder" + ("" if out_required else " (without --p2t: per-utterance JSONL file)"))
    p.add_argument("--corpus", choices=["LRS2", "LRS3"], help="for the published-numbers table (default: guessed from the manifest path)")
    p.add_argument("--published", help="published-numbers YAML (default: eval/published.yaml of the source checkout)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples for the 95%% interval (default 1000; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="noise and bootstrap seed (default 0)")
    p.add_argument("--limit", type=int, help="first N utterances only")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: when stderr is a terminal)")


def _eval_setup(args) -> dict:
    """Arguments shared by every `avsr eval` run, checked; UsageError on bad ones."""
    from avsr.evaluation.published import DEFAULT_PATH, guess_corpus
    from avsr.roi.batch import UsageError

    if not os.path.isfile(args.manifest):
        raise UsageError(f"--manifest {args.manifest}: no such file (data_prep/lrs3.py or data_prep/lrs2.py writes OUT/test/manifest.jsonl)")
    if args.out and os.path.isfile(args.out):
        raise UsageError(f"-o {args.out}: is a file; give a folder for the run's results")
    for name in ("bootstrap", "batch_size", "limit"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "bootstrap" else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'bootstrap' else '>= 1'}, got {v}")
    corpus = args.corpus or guess_corpus(args.manifest)
    if corpus is None:
        raise UsageError(f"cannot tell from {args.manifest} whether it is LRS2 or LRS3: give --corpus LRS2|LRS3")
    if args.published and not os.path.isfile(args.published):
        raise UsageError(f"--published {args.published}: no such file")
    return {"corpus": corpus, "published": args.published or DEFAULT_PATH, "seed": args.seed, "resamples": args.bootstrap, "limit": args.limit,
            "batch_size": args.batch_size, "device": args.device, "progress": sys.stderr.isatty() if args.progress is None else args.progress}


def _eval_errors():
    from avsr.av.model import AdapterError
    from avsr.av.whisper import WhisperLoadError
    from avsr.checkpoints import CheckpointError
    from avsr.evaluation.decoding import EvalInputError
    from avsr.evaluation.published import PublishedError

    return (EvalInputError, PublishedError, AdapterError, WhisperLoadError, CheckpointError, FileNotFoundError)


def _cmd_eval_whisper(args) -> int:
    from avsr.evaluation.noisy import DEFAULT_SNRS, parse_snrs
    from avsr.evaluation.systems import describe, evaluate_whisper
    from avsr.roi.batch import UsageError

    common = _eval_setup(args)
    try:
        clean, snrs = parse_snrs(args.snrs) if args.snrs else (True, DEFAULT_SNRS)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if args.snrs and snrs and not args.noise_sources:
        raise UsageError(f"--snrs {' '.join(args.snrs)}: noisy conditions need --noise-sources JSONL (data_prep/audio.py writes one)")
    if args.sets and any(s != "none" for s in args.sets) and not args.adapters:
        raise UsageError("--sets names adapter sets: give --adapters FOLDER")
    try:
        rows, md = evaluate_whisper(args.manifest, args.out, system=args.what, whisper=args.whisper, adapters=args.adapters, sets=args.sets,
                                    noise_sources=args.noise_sources, categories=args.categories, snrs=snrs, clean=clean, beams=args.beam, **common)
    except _eval_errors() as e:
        raise UsageError(str(e)) from e
    except ValueError as e:  # a noise category the sources cannot make, a bad noise file
        raise UsageError(str(e)) from e
    print("\n".join(describe(rows)))
    print(f"-> {args.out}/results.md, results.csv, utterances.jsonl, report.html")
    return 0


def _cmd_eval_vsr(args) -> int:
    from avsr.checkpoints import CheckpointError, load_model
    from avsr.roi.batch import UsageError

    if args.p2t:
        from avsr.evaluation.systems import describe, evaluate_lipreading

        if not args.out:
            raise UsageError("--p2t writes a run folder: give -o OUT")
        common = _eval_setup(args)
        try:
            rows, _ = evaluate_lipreading(args.manifest, args.out, ckpt=args.ckpt, p2t=args.p2t, lexicon_counts=args.lexicon_counts,
                                          method=args.decode, beam=args.beam, **common)
        except _eval_errors() as e:
            raise UsageError(str(e)) from e
        print("\n".join(describe(rows)))
        print(f"-> {args.out}/results.md, results.csv, utterances.jsonl, report.html")
        return 0
    from avsr.vsr.evaluate import evaluate_vsr

    try:
        model = load_model(args.ckpt, device=args.device)
    except CheckpointError as e:
        raise UsageError(str(e)) from e
    res = evaluate_vsr(model, args.manifest, args.decode, args.beam, out=args.out, progress=sys.stderr.isatty() if args.progress is None else args.progress)
    print(f"PER {100 * res.per:.2f}% on {res.utterances} utterances ({args.decode})" + (f" -> {args.out}" if args.out else ""))
    return 0


def _add_transcribe(sub) -> None:
    from avsr.av.quantize import QUANTIZE  # no torch import: the parser stays quick

    p = sub.add_parser("transcribe", help="transcribe video or audio files (one, or thousands: resumable batch)", description="Transcribe. "
                       "--mode avsr: audio + mouth crops -> frozen Whisper with the adapter set the noise classifier and router pick (audio "
                       "only when there is no face); asr: audio only; vsr: silent video -> mouth crops -> phonemes (VSR checkpoint) -> text "
                       "(phoneme-to-text adapter). With -o, one JSON line per input; re-running the same command skips inputs already "
                       "in the output. Files are read in segments (<= 30 s, cut at pauses), so long recordings use flat memory.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video/audio files, folders (recursive), globs, list files (.txt) or JSONL manifests")
    p.add_argument("--mode", choices=["auto", "avsr", "asr", "vsr"], default="auto",
                   help="auto (default): avsr for video with sound, vsr for silent video, asr for audio files")
    p.add_argument("-o", "--out", help="JSONL output (id, text, mode, model, segments, noise, adapter, timings; errors as lines with 'error')")
    p.add_argument("--srt", metavar="DIR", help="also write ID.srt captions here")
    p.add_argument("--vtt", metavar="DIR", help="also write ID.vtt captions here")
    p.add_argument("--crops", metavar="DIR", help="write a montage of each video's mouth crops here (ID.crops.png)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="worker processes decoding media and extracting crops while the models run (default 1; 0: none)")
    p.add_argument("--batch-size", type=int, default=8, help="segments per model batch (default 8)")
    p.add_argument("--devices", default="1", help="Lightning devices (e.g. 2, or 'auto'); >1 runs DDP, one process per device")
    p.add_argument("--accelerator", default="cpu", help="Lightning accelerator: cpu (default), gpu, auto")
    p.add_argument("--strategy", default="auto", help="Lightning strategy (ddp for several devices or nodes)")
    p.add_argument("--num-nodes", type=int, default=1)
    p.add_argument("--precision", default="32-true", choices=["32-true", "bf16-mixed", "16-mixed"],
                   help="Lightning precision: 32-true (default, exact), bf16-mixed (autocast: ~1.3-1.6x faster Whisper on CPUs with "
                   "bf16 units and on GPUs; recorded in each output line's model)")
    p.add_argument("--retry-failed", action="store_true", help="redo inputs whose line in the output is an error")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar (default: when stderr is a terminal)")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print each transcript")
    g = p.add_argument_group("avsr / asr")
    g.add_argument("--whisper", default="whisper-base", help="registry name (`avsr models`), CTranslate2 folder, .pt or hub id")
    g.add_argument("--quantize", choices=QUANTIZE, help="int8: Whisper's linear layers in int8 on CPU (dynamic quantization, as faster-whisper's "
                   "compute_type=int8; faster, text may differ slightly from float32; with --precision 32-true only)")
    g.add_argument("--adapters", help="folder of adapter sets (`avsr adapters FOLDER` lists them)")
    g.add_argument("--adapter", help="use this set instead of the router's choice; 'none' = plain frozen Whisper")
    g.add_argument("--classifier", help="noise classifier checkpoint (avsr train noise)")
    g.add_argument("--router", help="YAML router table (configs/av/router.yaml)")
    g.add_argument("--beam", type=int, default=1, help="Whisper beam size")
    v = p.add_argument_group("vsr")
    v.add_argument("--vsr", help="VSR checkpoint folder (avsr train vsr)")
    v.add_argument("--p2t", help="phoneme-to-text adapter folder (avsr train p2t)")
    v.add_argument("--phonemes-only", action="store_true", help="stop after the phonemes (no --p2t needed)")
    v.add_argument("--decode", choices=["greedy", "beam"], default="beam")
    p.add_argument("--device", default="cpu", help="where models are loaded before Lightning moves them (cpu)")
    p.set_defaults(func=_cmd_transcribe)


def _av_recognizer(args):
    from avsr.av.model import AdapterError
    from avsr.av.whisper import WhisperLoadError
    from avsr.checkpoints import CheckpointError
    from avsr.pipeline import AVRecognizer, MissingModelError
    from avsr.roi.batch import UsageError

    try:
        rec = AVRecognizer.from_pretrained(args.whisper, args.adapters, args.classifier, args.router, device=args.device, beams=args.beam,
                                         quantize=args.quantize)
    except (MissingModelError, WhisperLoadError, AdapterError, CheckpointError, FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from e
    if args.adapter and args.adapter != "none" and args.adapter not in rec.av.sets:
        raise UsageError(f"--adapter {args.adapter}: not installed (sets: {', '.join(rec.av.sets) or 'none'}; give --adapters FOLDER)")
    return rec


def _describe(rec: dict) -> str:
    if "error" in rec:
        return f"{rec['source']}: error: {rec['error']}"
    text = rec["text"] if rec.get("text") is not None else rec.get("phonemes", "")
    if rec["mode"] == "vsr":
        info = f"[vsr, face {100 * (rec.get('face_ratio') or 0):.0f}% of frames]"
    else:
        n = rec.get("noise")
        noise = f"noise {n['category']} ~{n['snr']:.0f} dB" if n else "noise: no classifier"
        info = (f"[{rec['mode']}, {noise}, adapter {rec['adapter']} ({rec['route']}){', visual' if rec.get('visual') else ''}"
                f"{'; ' + rec['note'] if rec.get('note') else ''}]")
    crops = f"\n  mouth crops: {rec['montage']}" if rec.get("montage") else ""
    return f"{rec['source']}: {text}\n  {info}{crops}"


def _kinds(jobs, mode: str) -> set[str]:
    """{"av", "vsr"}: the recognisers ``jobs`` need (auto mode reads each file's stream list;
    unreadable files need none and fail later with their reason)."""
    from avsr.io import MediaError
    from avsr.transcribe.prepare import decide_mode

    if mode != "auto":
        return {"vsr" if mode == "vsr" else "av"}
    kinds = set()
    for j in jobs:
        try:
            kinds.add("vsr" if decide_mode(j.source, mode) == "vsr" else "av")
        except MediaError:
            pass
        if len(kinds) == 2:
            break
    return kinds or {"av"}


def _cmd_transcribe(args) -> int:
    import tempfile

    from avsr.io import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
    from avsr.pipeline import LipReader, MissingModelError
    from avsr.roi.batch import UsageError, collect_inputs
    from avsr.transcribe.engine import BatchOptions, TranscribeTask, run
    from avsr.transcribe.prepare import Preparer

    if args.jobs < 0 or args.batch_size < 1:
        raise UsageError("-j/--jobs must be >= 0 and --batch-size >= 1")
    if args.quantize and (args.precision != "32-true" or args.accelerator != "cpu" or args.device != "cpu"):
        raise UsageError("--quantize int8 runs on CPU in float32 around the int8 layers: use it with --precision 32-true and --accelerator cpu")
    jobs, errors = collect_inputs(args.inputs, VIDEO_EXTENSIONS + AUDIO_EXTENSIONS)
    for e in errors:
        print(f"{e['source']}: error: {e['error']}", file=sys.stderr)
    if not jobs and not args.out:
        raise UsageError("no input to transcribe")
    kinds = _kinds(jobs, args.mode)  # which recognisers the inputs need: only those are loaded
    av = _av_recognizer(args) if "av" in kinds else None
    vsr, missing = None, {}
    if "vsr" in kinds:
        try:
            vsr = LipReader.from_pretrained(args.vsr, args.p2t, device=args.device, phonemes_only=args.phonemes_only, method=args.decode)
        except (MissingModelError, FileNotFoundError) as e:
            if kinds == {"vsr"}:  # nothing could be transcribed
                raise UsageError(str(e)) from e
            missing["vsr"] = ("silent video: " if args.mode == "auto" else "") + str(e)
    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    opts = BatchOptions(workers=args.jobs, batch_size=args.batch_size, accelerator=args.accelerator, devices=devices, strategy=args.strategy,
                        num_nodes=args.num_nodes, precision=args.precision, srt=args.srt, vtt=args.vtt, retry_failed=args.retry_failed, progress=args.progress)
    prep = Preparer(args.mode, montage_dir=args.crops, threads=1 if args.jobs > 1 else 2, unavailable=missing)
    models = {"av": dict(av.names) if av else {}, "vsr": dict(vsr.names) if vsr else {}}
    if args.precision != "32-true":
        for m in models.values():
            m["precision"] = args.precision
    task = TranscribeTask(av, vsr, args.adapter, args.batch_size, missing)

    def show(rec):
        if not args.quiet:
            from tqdm import tqdm

            tqdm.write(_describe(rec), file=sys.stderr if "error" in rec else sys.stdout)

    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or os.path.join(tmp, "out.jsonl")
        summary = run(jobs, out, prep, task, models, opts, on_record=show, errors=errors)
    if summary.rank != 0:
        return summary.exit_code
    rate = f" in {summary.wall_seconds:.1f} s ({summary.audio_seconds / max(summary.wall_seconds, 1e-9):.1f}x realtime)" if summary.done else ""
    where = f" -> {args.out}" if args.out else ""
    print(f"{summary.done} transcribed, {summary.skipped} already done, {len(summary.failed)} failed{rate}{where}", file=sys.stderr)
    return summary.exit_code


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the registered offline models and where each comes from")
    p.set_defaults(func=_cmd_models)
    a = sub.add_parser("adapters", help="list the adapter sets in a folder")
    a.add_argument("folder", nargs="?", default="adapters", help="folder of adapter-set folders (default: ./adapters)")
    a.set_defaults(func=_cmd_adapters)


def _cmd_models(args) -> int:
    from avsr.registry import converted_dir, registered_files, registry

    for name, e in registry().items():
        try:
            files = registered_files(name)
            where = ", ".join(str(f) for f in files)
            state = "converted: " + str(converted_dir(name)) if (converted_dir(name) / "config.json").is_file() else "not converted yet (first use converts it)"
        except Exception as err:  # noqa: BLE001 - show why, keep listing
            where, state = f"NOT INSTALLED ({err})", ""
        print(f"{name} [{e['kind']}]: {e['description']}")
        print(f"  from: {e['install']}  ({e.get('licence', '')})")
        print(f"  files: {where}")
        if state:
            print(f"  {state}")
    return 0


def _cmd_adapters(args) -> int:
    from avsr.av.model import AdapterError, list_sets
    from avsr.roi.batch import UsageError

    try:
        sets = list_sets(args.folder)
    except AdapterError as e:
        raise UsageError(str(e)) from e
    if not sets:
        print(f"{args.folder}: no adapter sets (train one: avsr train av configs/av/babble.yaml)")
        return 0
    print(f"{'set':<14}{'modality':<14}{'noise':<22}{'SNR dB':<12}{'whisper':<18}{'trainable':>12}{'share':>8}")
    for name, m in sets:
        n = m.get("noise", {})
        snr = n.get("snr_values") or n.get("snr") or []
        snr_s = ",".join(f"{v:g}" for v in snr) if n.get("snr_values") else ("..".join(f"{v:g}" for v in snr))
        tr, full = m.get("trainable_parameters", 0), m.get("full_finetune_parameters", 0) or 1
        print(f"{name:<14}{m.get('modality', '?'):<14}{'+'.join(n.get('categories', [])) or '?':<22}{snr_s:<12}"
              f"{m.get('whisper', {}).get('name', '?'):<18}{tr:>12,}{100 * tr / full:>7.2f}%")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from avsr import __version__

    parser = argparse.ArgumentParser(prog="avsr", description="Visual and audio-visual speech recognition.")
    parser.add_argument("--version", action="version", version=f"avsr {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_roi(sub)
    _add_train(sub)
    _add_eval(sub)
    _add_transcribe(sub)
    _add_models(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_native_logs()
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from avsr.roi.batch import UsageError

    try:
        return args.func(args)
    except UsageError as e:
        print(f"avsr {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished clips are kept, re-run the same command to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
