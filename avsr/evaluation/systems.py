"""Whole evaluations, as ``avsr eval`` runs them: load the models, run them over a test manifest
under every condition, write the run folder (:mod:`avsr.evaluation.run`).

- :func:`evaluate_whisper`: ``asr`` (audio only) or ``avsr`` (audio + mouth crops into each
  adapter set's fusion), the frozen Whisper (set ``none``), the default of ``avsr transcribe``
  (``routed``: noise classifier + router + sets) and each set forced, clean and with noise at
  each SNR, decoded by the same recogniser as ``avsr transcribe``;
- :func:`evaluate_lipreading`: ``vsr``, a published Auto-AVSR checkpoint's words, or an avsr
  lip-reading checkpoint's phonemes turned into words by a phoneme-to-text adapter or by
  dictionary lookup (``lexicon``); WER (and PER).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from avsr.adapters.sets import NO_ADAPTER
from avsr.core.errors import UsageError
from avsr.core.metrics import BOOTSTRAP_RESAMPLES
from avsr.data.mixing import read_sources
from avsr.evaluation.conditions import DEFAULT_SNRS, available_categories, conditions, noise_bank
from avsr.evaluation.decoding import ROUTED, EvalInputError, read_manifest, run_vsr, run_whisper, run_word_reader
from avsr.evaluation.published import DEFAULT_PATH
from avsr.evaluation.run import write_run
from avsr.evaluation.tables import ResultRow
from avsr.recognizers.options import ModelOptions

LEXICON = "lexicon"  # --p2t value for the dictionary-lookup baseline


def load_system(options: ModelOptions, sets: Sequence[str] | None, accelerator: str = "cpu"):
    """(the recogniser ``avsr transcribe`` would load for ``options``, the systems to evaluate).
    ``sets`` None: ``none``, ``routed`` when there is a noise classifier (the shipped one when
    neither sets nor a classifier are named), and every set of an ``adapters`` folder that was
    named. EvalInputError names a set that is not there."""
    from avsr.recognizers.autoavsr_speech import SYSTEM, AutoAVSRSpeech
    from avsr.recognizers.load import load_av

    rec = load_av(options, accelerator)
    if isinstance(rec, AutoAVSRSpeech):  # the published Auto-AVSR audio / audio-visual model: one system
        if sets and set(sets) != {SYSTEM}:
            raise EvalInputError(f"--sets {' '.join(sets)}: the Auto-AVSR models have no adapter sets")
        return rec, [SYSTEM]
    installed = rec.bank.sets
    if options.adapters and not installed:
        raise EvalInputError(
            f"{options.adapters}: no adapter sets here (a set is a folder with avsr_adapter.json; "
            "`avsr train av` writes them)"
        )
    if sets:
        names = list(dict.fromkeys(sets))
    else:
        routed = [ROUTED] if rec.classifier is not None else []
        names = [NO_ADAPTER, *routed, *(installed if options.adapters else [])]
    unknown = [n for n in names if n not in (NO_ADAPTER, ROUTED) and n not in installed]
    if unknown:
        raise EvalInputError(
            f"--sets {' '.join(unknown)}: not installed"
            + (f" (sets: {', '.join(installed)})" if installed else " (give --adapters FOLDER)")
        )
    return rec, names


def evaluate_whisper(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    *,
    system: str = "asr",
    options: ModelOptions | None = None,
    sets: Sequence[str] | None = None,
    noise_sources: str | os.PathLike | None = None,
    categories: Sequence[str] | None = None,
    snrs: Sequence[float] = DEFAULT_SNRS,
    clean: bool = True,
    corpus: str | None = None,
    published: str | os.PathLike | None = DEFAULT_PATH,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    limit: int | None = None,
    progress: bool = False,
) -> tuple[list[ResultRow], str]:
    """Run Whisper over ``manifest`` as ``avsr transcribe`` runs it (the recogniser of ``options``,
    :class:`~avsr.recognizers.options.ModelOptions`: Whisper, sets, noise classifier, router,
    engine, decoding, batch size) and write the run folder ``out``. Systems: ``sets`` (see
    :func:`load_system`; ``routed`` is the default of ``avsr transcribe``). Conditions: clean
    (unless ``clean`` is False) and, with ``noise_sources``, every category in ``categories``
    (default: all the sources can make) at every SNR. Returns the rows and ``results.md``."""
    options = options or ModelOptions()
    if system not in ("asr", "avsr"):
        raise UsageError(f"system must be asr or avsr, got {system!r}")
    records = read_manifest(manifest, ("text", "audio") + (("roi",) if system == "avsr" else ()), limit)
    bank, cats = None, []
    if noise_sources is not None:
        sources = read_sources(noise_sources)
        cats = list(categories) if categories else list(available_categories(sources))
        if not cats:
            raise EvalInputError(f"{noise_sources}: no test-split noise for any category")
        bank = noise_bank(sources, cats, seed)
    elif categories:
        raise EvalInputError("--categories needs --noise-sources")
    conds = conditions(cats, snrs if bank is not None else (), clean)
    if not conds:
        raise EvalInputError("no condition to evaluate: give 'clean' and/or SNRs with --noise-sources")
    rec, names = load_system(options, sets)
    lines = run_whisper(rec, records, conds, names, bank, visual=system == "avsr", system=system, progress=progress)
    model = rec.names
    common = {
        "manifest": os.fspath(manifest),
        "corpus": corpus or "custom",
        "utterances": len(records),
        "conditions": len(conds),
        "noise sources": os.fspath(noise_sources) if noise_sources else "none (clean only)",
        "seed": seed,
        "bootstrap resamples": resamples,
    }
    if options.asr or options.avsr:
        info, label = (
            _autoavsr_info(system, options, rec) | common,
            f"{system} {Path(options.avsr or options.asr).name}",
        )
    else:
        info = {
            "system": system,
            "whisper": model["whisper"],
            "adapter sets": " ".join(names),
            "adapters": model.get("adapters", "none"),
            "noise classifier": model.get("classifier", "none"),
            "router": model.get("router", "built-in rules"),
            **common,
            "engine": model["engine"],
            "decoding": asdict(rec.decoding),
        }
        label = f"{system} {Path(model['whisper']).name}"
    return write_run(out, lines, records, info, corpus, (system,), label, _published(published), resamples, seed)


def evaluate_lipreading(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    *,
    options: ModelOptions,
    lexicon_counts: str | os.PathLike | None = None,
    corpus: str | None = None,
    published: str | os.PathLike | None = DEFAULT_PATH,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    limit: int | None = None,
    progress: bool = False,
) -> tuple[list[ResultRow], str]:
    """Lip-read ``manifest``'s crops with ``options.vsr`` and write the run folder:

    - a published Auto-AVSR ``.pth`` (crops made with configs/roi/auto_avsr.yaml; ``tokens``,
      ``decode`` joint | ctc, ``beam``, ``ctc_weight``): its words, WER with a bootstrap interval;
    - an avsr VSR checkpoint folder: phonemes (``decode`` greedy | beam, ``beam``), turned into
      words by the phoneme-to-text model ``p2t`` (:func:`avsr.p2t.load.load_phoneme_to_text`:
      the shipped adapter by default, ``lexicon``, ``bigram`` or a folder); ``p2t="lexicon"``
      with ``lexicon_counts`` (a JSON word -> count file) looks words up with those
      frequencies; rows carry WER and PER."""
    from avsr.recognizers.load import is_autoavsr_file

    records = read_manifest(manifest, ("text", "roi"), limit)
    common = {
        "manifest": os.fspath(manifest),
        "corpus": corpus or "custom",
        "utterances": len(records),
        "seed": seed,
        "bootstrap resamples": resamples,
    }
    if is_autoavsr_file(options.vsr):
        lines, info = _autoavsr_lines(options, records, progress)
    else:
        lines, info = _vsr_lines(options, records, lexicon_counts, progress)
    label = f"vsr {Path(options.vsr).name}"
    return write_run(
        out, lines, records, info | common, corpus, ("vsr",), label, _published(published), resamples, seed
    )


def _autoavsr_info(system: str, opts: ModelOptions, rec) -> dict[str, str]:
    """The run header of an Auto-AVSR audio / audio-visual evaluation."""
    m = rec.names
    out = {"system": system}
    for kind in ("avsr", "asr"):
        if kind in m:
            out[f"{kind} checkpoint"] = f"{m[kind]} (sha256 {m[f'{kind}_sha256']}, {m[f'{kind}_layout']} layout)"
    if "lm" in m:
        out["language model"] = f"{m['lm']} (sha256 {m['lm_sha256']})"
    out["units"] = str(opts.tokens)
    out["decoding"] = rec.decoding.describe()
    if rec.fallback is not None:
        out["no-face fallback"] = f"Whisper {m.get('fallback whisper', '')}"
    return out


def _autoavsr_lines(opts: ModelOptions, records, progress: bool):
    from avsr.recognizers.autoavsr import AutoAVSRReader

    reader = AutoAVSRReader.from_options(opts)
    lines = run_word_reader(reader, records, Path(opts.vsr).name, opts.batch_size, progress)
    m = reader.names
    info = {
        "system": "vsr",
        "checkpoint": f"{opts.vsr} (sha256 {m['vsr_sha256']}, {m['vsr_layout']} layout)",
        "units": opts.tokens,
        "decoding": reader.decoding.describe(),
    }
    if "lm" in m:
        info["language model"] = f"{m['lm']} (sha256 {m['lm_sha256']})"
    return lines, info


def _vsr_lines(opts: ModelOptions, records, lexicon_counts, progress: bool):
    import avsr
    from avsr.p2t.load import describe as p2t_name
    from avsr.recognizers.lip import LipReader

    method, beam = opts.decode or "greedy", opts.beam or 8
    model = avsr.load_model(opts.vsr, device=opts.device)
    if opts.p2t == LEXICON and lexicon_counts:  # the lookup with another corpus's word counts
        from avsr.p2t.lexicon import DictionaryDecoder

        lex = DictionaryDecoder.from_counts_file(lexicon_counts)
        to_text, p2t_decoding = (lambda phs: [lex(p) for p in phs]), "dictionary lookup"
    else:
        from avsr.p2t.load import load_phoneme_to_text

        to_text = load_phoneme_to_text(opts.p2t, device=opts.device)
        p2t_decoding = to_text.describe()
    name = Path(p2t_name(opts.p2t)).name
    reader = LipReader(model, None, method=method, beam=beam)
    lines = run_vsr(reader, records, to_text, name, opts.batch_size, progress)
    return lines, {
        "system": "vsr",
        "checkpoint": opts.vsr,
        "phoneme-to-text": p2t_name(opts.p2t) + (f" ({lexicon_counts})" if lexicon_counts else ""),
        "phoneme-to-text decoding": p2t_decoding,
        "decoding": method + (f" (beam {beam})" if method == "beam" else ""),
    }


def _published(path: str | os.PathLike | None) -> str | os.PathLike | None:
    """The default table is optional (it lives in a source checkout); a path asked for is not."""
    return None if path is None or (os.fspath(path) == os.fspath(DEFAULT_PATH) and not Path(path).is_file()) else path


def describe(rows: Sequence[ResultRow]) -> list[str]:
    """One printable line per row: ``asr [none] clean: WER 5.0% (95% CI 3.1-7.2) on 14 utterances``."""
    from avsr.evaluation.tables import pct

    return [
        f"{r.system} [{r.set}] {r.condition}: WER {pct(r.wer)}%"
        + (f" (95% CI {pct(r.ci_low)}-{pct(r.ci_high)})" if pct(r.ci_low) else "")
        + (f", PER {pct(r.per)}%" if r.per is not None else "")
        + f" on {r.utterances} utterances"
        for r in rows
    ]
