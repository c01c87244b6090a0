"""``avsr.load_recognizer(...)``, and choosing and loading the recognisers a batch of inputs
needs (what ``avsr transcribe`` does before it runs; the CLI only parses and prints).

>>> import avsr
>>> model = avsr.load_recognizer("whisper-base")
>>> result = model.transcribe("talk.mp4")
>>> result.text, result.adapter, result.segments
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from avsr.core.errors import AvsrError, MediaError, MissingModelError, UsageError
from avsr.core.jobs import Job
from avsr.core.media import probe
from avsr.recognizers.options import ModelOptions
from avsr.recognizers.prepare import decide_mode
from avsr.recognizers.protocol import Recognizer


def load_recognizer(whisper: str | os.PathLike = "whisper-base", **kw: Any) -> Recognizer:
    """A recogniser with ``.transcribe(path)``, whisper-style.

    - audio / audio-visual (default): the frozen Whisper ``whisper`` (registry name, CTranslate2
      folder, openai ``.pt`` or hub id), with the adapter sets in ``adapters``, the noise
      ``classifier`` and the ``router`` table when given (:class:`~avsr.recognizers.audiovisual.AVRecognizer`);
      when neither ``adapters`` nor ``classifier`` is given, the sets and noise head that ship for
      that Whisper (``checkpoints/registry.yaml``; whisper-base has them) are used; ``adapter="none"``
      keeps the frozen model; ``decoding``: Whisper's temperature fallback and no-speech
      thresholds (:class:`~avsr.whisper.decoding.DecodingOptions`, Whisper's defaults); ``engine``:
      ``ct2`` (CTranslate2, the default on CPU; ``compute_type`` float32 | int8 | int8_float32)
      or ``torch``;
    - lip reading, when ``vsr`` (a VSR checkpoint folder) is given: with the phoneme-to-text
      adapter ``p2t``, or phonemes only (:class:`~avsr.recognizers.lip.LipReader`);
    - a published Auto-AVSR visual model, when ``vsr`` is its ``.pth`` file and ``tokens`` its
      units file (:class:`~avsr.recognizers.autoavsr.AutoAVSRReader`; ``decode`` joint | ctc);
    - the VALLR authors' video-to-phoneme checkpoint, when ``vsr`` is that ``.pth`` file (told
      apart by its keys), with ``p2t`` or ``phonemes_only`` (:class:`~avsr.recognizers.vallr.VallrReader`);
    - the published Auto-AVSR audio (``asr``) and audio-visual (``avsr``) models instead of
      Whisper (:class:`~avsr.recognizers.autoavsr_speech.AutoAVSRSpeech`; with ``tokens``);
    - any Auto-AVSR model with the subword language model ``lm`` (its ``model.json`` beside it, or
      ``lm_config``) fused at ``lm_weight`` (0.3).

    Every keyword is a :class:`~avsr.recognizers.options.ModelOptions` field, with its default there.
    Raises an :class:`~avsr.core.errors.AvsrError` saying what is missing or wrong."""
    opts = ModelOptions.of(whisper=whisper, **kw)
    return load_lipreader(opts) if opts.vsr or opts.p2t else load_av(opts)


def load_av(opts: ModelOptions, accelerator: str = "cpu") -> Recognizer:
    """The audio / audio-visual recogniser of ``opts`` (Whisper, or the Auto-AVSR audio /
    audio-visual models when ``asr`` / ``avsr`` is given); AvsrError (usage) when it cannot be loaded."""
    from avsr.recognizers.audiovisual import AVRecognizer

    if opts.asr or opts.avsr:
        from avsr.recognizers.autoavsr_speech import AutoAVSRSpeech

        whisper = None  # for segments without a face when there is no audio model: Whisper as without --avsr
        if not opts.asr:
            whisper = load_av(replace(opts, avsr=None, lm=None, lm_config=None, lm_weight=None), accelerator)
        return AutoAVSRSpeech.from_options(opts, whisper)
    if opts.lm and not is_autoavsr_file(opts.vsr):
        raise UsageError("--lm is fused into an Auto-AVSR model's search: give --vsr, --asr or --avsr (a .pth file)")
    try:
        return AVRecognizer.from_options(opts, accelerator)
    except (FileNotFoundError, ValueError) as e:
        if isinstance(e, AvsrError):
            raise
        raise UsageError(str(e)) from e


def is_autoavsr_file(vsr: str | None) -> bool:
    """Whether ``--vsr`` names a published Auto-AVSR ``.pth`` file (a file, not a checkpoint folder)."""
    return bool(vsr) and not os.path.isdir(vsr) and (os.path.isfile(vsr) or vsr.endswith((".pth", ".pt")))


def load_lipreader(opts: ModelOptions) -> Recognizer:
    """The lip reader of ``opts``; MissingModelError when a model it needs is not given."""
    if is_autoavsr_file(opts.vsr):
        from avsr.recognizers.vallr import VallrReader, is_vallr_file

        return VallrReader.from_options(opts) if is_vallr_file(opts.vsr) else _load_published(opts)
    from avsr.recognizers.lip import LipReader

    if opts.decode not in (None, "greedy", "beam"):
        raise UsageError(f"--decode {opts.decode}: an avsr VSR checkpoint decodes with greedy or beam")
    if opts.lm:
        raise UsageError("--lm is for the Auto-AVSR models (a .pth --vsr); an avsr VSR checkpoint uses --p2t")
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
    from avsr.recognizers.autoavsr import AutoAVSRReader

    if opts.p2t or opts.phonemes_only:
        raise UsageError("an Auto-AVSR checkpoint outputs words: --p2t and --phonemes-only do not apply")
    if opts.decode not in (None, "joint", "ctc"):
        raise UsageError(f"--decode {opts.decode}: an Auto-AVSR checkpoint decodes with joint (default) or ctc")
    return AutoAVSRReader.from_options(opts)


def with_media(jobs: list[Job], mode: str) -> list[Job]:
    """``jobs`` with their :class:`~avsr.core.media.MediaInfo` for as many as ``auto`` mode must
    look at to know which recognisers the run needs (until both kinds are seen): each of those
    files is probed here, once, and its facts travel with the job to the worker that prepares it
    (the others are probed there, once). Unreadable files are left to fail later with their reason."""
    if mode != "auto":
        return jobs
    out, kinds = [], set()
    for j in jobs:
        if len(kinds) < 2 and j.media is None:
            try:
                j = replace(j, media=probe(j.source))
                kinds.add(_kind(j, mode))
            except MediaError:
                pass
        out.append(j)
    return out


def _kind(job: Job, mode: str) -> str:
    return "vsr" if decide_mode(job.source, mode, job.media) == "vsr" else "av"


def needed_kinds(jobs: list[Job], mode: str) -> set[str]:
    """{"av", "vsr"}: the recognisers ``jobs`` need (auto mode reads the facts :func:`with_media`
    attached; unreadable files need none and fail later with their reason)."""
    if mode != "auto":
        return {"vsr" if mode == "vsr" else "av"}
    kinds = {_kind(j, mode) for j in jobs if j.media is not None}
    return kinds or {"av"}


def load_for_inputs(
    jobs: list[Job], mode: str, opts: ModelOptions, accelerator: str = "cpu"
) -> tuple[list[Recognizer], dict[str, str]]:
    """The recognisers the inputs need (only those are loaded; ``jobs`` as :func:`with_media`
    returns them), and kind -> why for a kind that cannot be loaded while the other can (its
    inputs then fail with that message). When nothing could be transcribed the error is raised."""
    kinds = needed_kinds(jobs, mode)
    recs: list[Recognizer] = [load_av(opts, accelerator)] if "av" in kinds else []
    missing: dict[str, str] = {}
    if "vsr" in kinds:
        try:
            recs.append(load_lipreader(opts))
        except MissingModelError as e:
            if kinds == {"vsr"}:
                raise
            missing["vsr"] = ("silent video: " if mode == "auto" else "") + str(e)
    return recs, missing
