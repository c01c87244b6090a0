"""Whole evaluations, as ``avsr eval`` runs them: load the models, run them over a test manifest
under every condition, write the run folder (:mod:`avsr.evaluation.run`).

- :func:`evaluate_whisper`: ``asr`` (audio only) or ``avsr`` (audio + mouth crops into each
  adapter set's fusion), the frozen Whisper (set ``none``) and any adapter sets, clean and with
  noise at each SNR;
- :func:`evaluate_lipreading`: ``vsr``, a lip-reading checkpoint's phonemes turned into words
  by a phoneme-to-text adapter or by dictionary lookup (``lexicon``); PER and WER.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from avsr.av.decoding import DecodingOptions
from avsr.av.router import NO_ADAPTER
from avsr.core.errors import UsageError
from avsr.core.metrics import BOOTSTRAP_RESAMPLES
from avsr.data.mixing import read_sources
from avsr.evaluation.conditions import DEFAULT_SNRS, available_categories, conditions, noise_bank
from avsr.evaluation.decoding import EvalInputError, read_manifest, run_vsr, run_whisper, run_word_reader
from avsr.evaluation.published import DEFAULT_PATH
from avsr.evaluation.run import write_run
from avsr.evaluation.tables import ResultRow

LEXICON = "lexicon"  # --p2t value for the dictionary-lookup baseline


def load_av(whisper: str, adapters: str | os.PathLike | None, sets: Sequence[str] | None, device: str = "cpu"):
    """(AVWhisper with the asked sets loaded, the set names to evaluate). ``sets`` None: ``none``
    plus every set in ``adapters``. EvalInputError names a set that is not there."""
    from avsr.av.model import AVWhisper
    from avsr.av.sets import list_sets
    from avsr.av.whisper import load_whisper

    model, proc = load_whisper(whisper, device=device)
    av = AVWhisper(model, proc, whisper).eval()
    installed = [n for n, _ in list_sets(adapters)] if adapters else []
    if adapters and not installed:
        raise EvalInputError(
            f"{adapters}: no adapter sets here (a set is a folder with avsr_adapter.json; `avsr train av` writes them)"
        )
    names = list(dict.fromkeys(sets)) if sets else [NO_ADAPTER, *installed]
    unknown = [n for n in names if n != NO_ADAPTER and n not in installed]
    if unknown:
        raise EvalInputError(
            f"--sets {' '.join(unknown)}: not installed"
            + (f" in {adapters} (sets: {', '.join(installed)})" if adapters else " (give --adapters FOLDER)")
        )
    for n in names:
        if n != NO_ADAPTER:
            av.load_set(Path(adapters) / n)
    av.activate(None)
    return av, names


def evaluate_whisper(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    *,
    system: str = "asr",
    whisper: str = "whisper-base",
    adapters: str | os.PathLike | None = None,
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
    batch_size: int = 8,
    beams: int = 1,
    device: str = "cpu",
    progress: bool = False,
    engine: str = "torch",
    compute_type: str = "float32",
    decoding: DecodingOptions | None = None,
) -> tuple[list[ResultRow], str]:
    """Run Whisper over ``manifest`` and write the run folder ``out``. Conditions: clean (unless
    ``clean`` is False) and, with ``noise_sources``, every category in ``categories`` (default:
    all the sources can make) at every SNR. ``engine`` ct2 | torch runs Whisper (``compute_type``
    for ct2); ``decoding``: Whisper's options (default: Whisper's, with ``beams``). Returns the
    rows and ``results.md``."""
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
    av, names = load_av(whisper, adapters, sets, device)
    if engine == "ct2":
        av.use_ct2(compute_type)
    decoding = decoding or DecodingOptions(beam_size=beams)
    lines = run_whisper(
        av,
        records,
        conds,
        names,
        bank,
        visual=system == "avsr",
        system=system,
        batch_size=batch_size,
        decoding=decoding,
        progress=progress,
    )
    info = {
        "system": system,
        "whisper": whisper,
        "adapter sets": " ".join(names),
        "manifest": os.fspath(manifest),
        "corpus": corpus or "?",
        "utterances": len(records),
        "conditions": len(conds),
        "noise sources": os.fspath(noise_sources) if noise_sources else "none (clean only)",
        "seed": seed,
        "bootstrap resamples": resamples,
        "engine": engine if engine == "torch" else f"ct2 {compute_type}",
        "decoding": asdict(decoding),
    }
    return write_run(
        out,
        lines,
        records,
        info,
        corpus,
        (system,),
        f"{system} {Path(whisper).name}",
        _published(published),
        resamples,
        seed,
    )


def evaluate_lipreading(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    *,
    ckpt: str | os.PathLike,
    p2t: str | os.PathLike,
    lexicon_counts: str | os.PathLike | None = None,
    method: str = "greedy",
    beam: int = 8,
    corpus: str | None = None,
    published: str | os.PathLike | None = DEFAULT_PATH,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    limit: int | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[list[ResultRow], str]:
    """Lip-read ``manifest`` with the VSR checkpoint ``ckpt`` and turn phonemes into words with
    the phoneme-to-text adapter ``p2t``, or ``"lexicon"`` for dictionary lookup (word
    frequencies from ``lexicon_counts``, a JSON word -> count file, when given). Writes the run
    folder; rows carry WER and PER."""
    import avsr
    from avsr.recognizers.lip import LipReader

    records = read_manifest(manifest, ("text", "roi"), limit)
    model = avsr.load_model(ckpt, device=device)
    if os.fspath(p2t) == LEXICON:
        from avsr.p2t.lexicon import DictionaryDecoder

        lex = DictionaryDecoder.from_counts_file(lexicon_counts) if lexicon_counts else DictionaryDecoder()
        to_text, name = (lambda phs: [lex(p) for p in phs]), LEXICON
        p2t_decoding = "dictionary lookup"
    else:
        from avsr.p2t.model import load_p2t

        to_text, name = load_p2t(p2t, device=device), Path(p2t).name
        p2t_decoding = to_text.decoding.describe()
    reader = LipReader(model, None, method=method, beam=beam)
    lines = run_vsr(reader, records, to_text, name, batch_size, progress)
    info = {
        "system": "vsr",
        "checkpoint": os.fspath(ckpt),
        "phoneme-to-text": os.fspath(p2t) + (f" ({lexicon_counts})" if lexicon_counts else ""),
        "phoneme-to-text decoding": p2t_decoding,
        "decoding": method + (f" (beam {beam})" if method == "beam" else ""),
        "manifest": os.fspath(manifest),
        "corpus": corpus or "?",
        "utterances": len(records),
        "seed": seed,
        "bootstrap resamples": resamples,
    }
    return write_run(
        out, lines, records, info, corpus, ("vsr",), f"vsr {Path(ckpt).name}", _published(published), resamples, seed
    )


def evaluate_autoavsr(
    manifest: str | os.PathLike,
    out: str | os.PathLike,
    *,
    ckpt: str | os.PathLike,
    tokens: str | os.PathLike,
    decode: str = "joint",
    beam: int | None = None,
    ctc_weight: float = 0.1,
    corpus: str | None = None,
    published: str | os.PathLike | None = DEFAULT_PATH,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
    limit: int | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[list[ResultRow], str]:
    """Lip-read ``manifest`` (crops made with configs/roi/auto_avsr.yaml) with a published
    Auto-AVSR visual checkpoint; WER with a bootstrap interval, one line per utterance."""
    from avsr.recognizers.published import AutoAVSRReader

    records = read_manifest(manifest, ("text", "roi"), limit)
    reader = AutoAVSRReader.from_files(ckpt, tokens, device=device, decode=decode, beam=beam, ctc_weight=ctc_weight)
    lines = run_word_reader(reader, records, Path(ckpt).name, batch_size, progress)
    info = {
        "system": "vsr",
        "checkpoint": f"{os.fspath(ckpt)} (sha256 {reader.names['vsr_sha256']}, {reader.names['vsr_layout']} layout)",
        "units": os.fspath(tokens),
        "decoding": f"{decode} (beam {reader.beam}" + (f", CTC weight {ctc_weight})" if decode == "joint" else ")"),
        "manifest": os.fspath(manifest),
        "corpus": corpus or "?",
        "utterances": len(records),
        "seed": seed,
        "bootstrap resamples": resamples,
    }
    return write_run(
        out, lines, records, info, corpus, ("vsr",), f"vsr {Path(ckpt).name}", _published(published), resamples, seed
    )


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
