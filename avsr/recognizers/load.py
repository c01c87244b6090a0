"""``avsr.load_recognizer(...)``, and choosing and loading the recognisers a batch of inputs
needs (what ``avsr transcribe`` does before it runs; the CLI only parses and prints).

>>> import avsr
>>> model = avsr.load_recognizer("whisper-base")
>>> result = model.transcribe("talk.mp4")
>>> result.text, result.adapter, result.segments
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from avsr.av.decoding import DecodingOptions
from avsr.core.errors import AvsrError, MediaError, MissingModelError, UsageError
from avsr.core.jobs import Job
from avsr.recognizers.prepare import decide_mode
from avsr.recognizers.protocol import Recognizer

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")


@dataclass(frozen=True)
class ModelOptions:
    """Which models a run loads and how they decode (the CLI's model options)."""

    whisper: str = "whisper-base"
    adapters: str | None = None  # folder of adapter-set folders
    adapter: str | None = None  # force this set ("none": the frozen Whisper) instead of the router's choice
    classifier: str | None = None
    router: str | None = None
    beam: int | None = None  # beam size: Whisper (default 1), VSR CTC (8), Auto-AVSR joint (40)
    quantize: str | None = None  # "int8": Whisper's linear layers in int8 on CPU
    vsr: str | None = None  # VSR checkpoint folder, or a published Auto-AVSR .pth file
    tokens: str | None = None  # the Auto-AVSR units file (unigram5000_units.txt)
    ctc_weight: float = 0.1  # Auto-AVSR joint decoding
    p2t: str | None = None  # phoneme-to-text adapter folder
    phonemes_only: bool = False
    # VSR decoding: greedy | beam (avsr VSR, default beam); joint | ctc (Auto-AVSR, default joint)
    decode: str | None = None
    device: str = "cpu"
    batch_size: int = 8  # segments per Whisper batch
    decoding: DecodingOptions | None = None  # Whisper's options (default: Whisper's, with ``beam``)
    engine: str | None = None  # ct2 | torch (default: ct2 on CPU, torch with --quantize or on a GPU)
    compute_type: str = "float32"  # the ct2 engine's: float32 | int8 | int8_float32

    def check(self, precision: str = "32-true", accelerator: str = "cpu") -> None:
        """UsageError on options that cannot go together."""
        if self.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        if self.beam is not None and self.beam < 1:
            raise UsageError("--beam must be >= 1")
        if self.quantize and (precision != "32-true" or accelerator != "cpu" or self.device != "cpu"):
            raise UsageError(
                "--quantize int8 runs on CPU in float32 around the int8 layers: "
                "use it with --precision 32-true and --accelerator cpu"
            )
        if self.engine not in (None, "ct2", "torch"):
            raise UsageError(f"--engine must be ct2 or torch, got {self.engine!r}")
        if self.engine == "ct2" and (self.quantize or accelerator != "cpu" or self.device != "cpu"):
            raise UsageError("--engine ct2 runs on CPU; its int8 is --compute-type int8 (--quantize is torch's)")
        if self.compute_type != "float32" and self.engine == "torch":
            raise UsageError("--compute-type is the ct2 engine's (torch: --quantize int8)")


def load_recognizer(
    whisper: str = "whisper-base",
    *,
    adapters: str | os.PathLike | None = None,
    classifier: str | os.PathLike | None = None,
    router: str | os.PathLike | None = None,
    vsr: str | os.PathLike | None = None,
    p2t: str | os.PathLike | None = None,
    phonemes_only: bool = False,
    device: str = "cpu",
    quantize: str | None = None,
    beam: int | None = None,
    adapter: str | None = None,
    decode: str | None = None,
    tokens: str | os.PathLike | None = None,
    ctc_weight: float = 0.1,
    decoding: DecodingOptions | None = None,
    engine: str | None = None,
    compute_type: str = "float32",
) -> Recognizer:
    """A recogniser with ``.transcribe(path)``, whisper-style.

    - audio / audio-visual (default): the frozen Whisper ``whisper`` (registry name, CTranslate2
      folder, openai ``.pt`` or hub id), with the adapter sets in ``adapters``, the noise
      ``classifier`` and the ``router`` table when given (:class:`~avsr.recognizers.audiovisual.AVRecognizer`);
      when neither ``adapters`` nor ``classifier`` is given, the sets and noise head that ship for
      that Whisper (``checkpoints/registry.yaml``; whisper-base has them) are used; ``adapter="none"``
      keeps the frozen model; ``decoding``: Whisper's temperature fallback and no-speech
      thresholds (:class:`~avsr.av.decoding.DecodingOptions`, Whisper's defaults); ``engine``:
      ``ct2`` (CTranslate2, the default on CPU; ``compute_type`` float32 | int8 | int8_float32)
      or ``torch``;
    - lip reading, when ``vsr`` (a VSR checkpoint folder) is given: with the phoneme-to-text
      adapter ``p2t``, or phonemes only (:class:`~avsr.recognizers.lip.LipReader`);
    - a published Auto-AVSR visual model, when ``vsr`` is its ``.pth`` file and ``tokens`` its
      units file (:class:`~avsr.recognizers.published.AutoAVSRReader`; ``decode`` joint | ctc).

    Raises an :class:`~avsr.core.errors.AvsrError` saying what is missing or wrong."""
    opts = ModelOptions(
        whisper=str(whisper),
        adapters=_str(adapters),
        adapter=adapter,
        classifier=_str(classifier),
        router=_str(router),
        beam=beam,
        quantize=quantize,
        vsr=_str(vsr),
        tokens=_str(tokens),
        ctc_weight=ctc_weight,
        p2t=_str(p2t),
        phonemes_only=phonemes_only,
        decode=decode,
        device=device,
        decoding=decoding,
        engine=engine,
        compute_type=compute_type,
    )
    return load_lipreader(opts) if vsr or p2t else load_av(opts)


def default_engine(opts: ModelOptions) -> str:
    """ct2 on CPU (faster-whisper's runtime), torch on a GPU or for torch's --quantize."""
    return "ct2" if opts.device == "cpu" and opts.quantize is None else "torch"


def _str(p: str | os.PathLike | None) -> str | None:
    return None if p is None else os.fspath(p)


def load_av(opts: ModelOptions) -> Recognizer:
    """The audio / audio-visual recogniser of ``opts``; AvsrError (usage) when it cannot be loaded."""
    from avsr.core.registry import shipped
    from avsr.recognizers.audiovisual import AVRecognizer

    adapters, classifier = opts.adapters, opts.classifier
    if adapters is None and classifier is None:  # the sets and noise head that ship for this Whisper
        found = shipped("adapter-sets", opts.whisper), shipped("noise-head", opts.whisper)
        adapters, classifier = (None, None) if None in found else tuple(map(str, found))
    try:
        rec = AVRecognizer.from_pretrained(
            opts.whisper,
            adapters,
            classifier,
            opts.router,
            device=opts.device,
            beams=opts.beam or 1,
            quantize=opts.quantize,
            adapter=opts.adapter,
            batch_size=opts.batch_size,
            decoding=opts.decoding,
            engine=opts.engine or default_engine(opts),
            compute_type=opts.compute_type,
        )
    except (FileNotFoundError, ValueError) as e:
        if isinstance(e, AvsrError):
            raise
        raise UsageError(str(e)) from e
    if opts.adapter and opts.adapter != "none" and opts.adapter not in rec.av.sets:
        raise UsageError(
            f"--adapter {opts.adapter}: not installed "
            f"(sets: {', '.join(rec.av.sets) or 'none'}; give --adapters FOLDER)"
        )
    return rec


def is_published(vsr: str | None) -> bool:
    """Whether ``--vsr`` names a published Auto-AVSR ``.pth`` file (a file, not a checkpoint folder)."""
    return bool(vsr) and not os.path.isdir(vsr) and (os.path.isfile(vsr) or vsr.endswith((".pth", ".pt")))


def load_lipreader(opts: ModelOptions) -> Recognizer:
    """The lip reader of ``opts``; MissingModelError when a model it needs is not given."""
    if is_published(opts.vsr):
        return _load_published(opts)
    from avsr.recognizers.lip import LipReader

    if opts.decode not in (None, "greedy", "beam"):
        raise UsageError(f"--decode {opts.decode}: an avsr VSR checkpoint decodes with greedy or beam")
    try:
        return LipReader.from_pretrained(
            opts.vsr,
            opts.p2t,
            device=opts.device,
            phonemes_only=opts.phonemes_only,
            method=opts.decode or "beam",
            beam=opts.beam or 8,
        )
    except FileNotFoundError as e:
        raise MissingModelError(str(e)) from e


def _load_published(opts: ModelOptions) -> Recognizer:
    from avsr.recognizers.published import AutoAVSRReader

    if opts.p2t or opts.phonemes_only:
        raise UsageError("an Auto-AVSR checkpoint outputs words: --p2t and --phonemes-only do not apply")
    if opts.decode not in (None, "joint", "ctc"):
        raise UsageError(f"--decode {opts.decode}: an Auto-AVSR checkpoint decodes with joint (default) or ctc")
    return AutoAVSRReader.from_files(
        opts.vsr,
        opts.tokens,
        device=opts.device,
        decode=opts.decode or "joint",
        beam=opts.beam,
        ctc_weight=opts.ctc_weight,
    )


def needed_kinds(jobs: list[Job], mode: str) -> set[str]:
    """{"av", "vsr"}: the recognisers ``jobs`` need (auto mode reads each file's stream list;
    unreadable files need none and fail later with their reason)."""
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


def load_for_inputs(jobs: list[Job], mode: str, opts: ModelOptions) -> tuple[list[Recognizer], dict[str, str]]:
    """The recognisers the inputs need (only those are loaded), and kind -> why for a kind that
    cannot be loaded while the other can (its inputs then fail with that message). When nothing
    could be transcribed the error is raised."""
    kinds = needed_kinds(jobs, mode)
    recs: list[Recognizer] = [load_av(opts)] if "av" in kinds else []
    missing: dict[str, str] = {}
    if "vsr" in kinds:
        try:
            recs.append(load_lipreader(opts))
        except MissingModelError as e:
            if kinds == {"vsr"}:
                raise
            missing["vsr"] = ("silent video: " if mode == "auto" else "") + str(e)
    return recs, missing
