"""Which models a run loads and how they decode: every model option and its default, once.

:class:`ModelOptions` is the only place an option, its default and its help text live. The CLI
builds its arguments from it (:func:`avsr.cli.common.model_args`), ``avsr.load_recognizer``,
:meth:`~avsr.recognizers.audiovisual.AVRecognizer.from_pretrained` and the evaluation build
one from their keywords, and the Whisper engine is chosen in one place (:meth:`ModelOptions.engine_for`).
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from avsr.core.errors import UsageError
from avsr.whisper.ct2_cache import COMPUTE_TYPES
from avsr.whisper.decoding import DecodingOptions

ENGINES = ("ct2", "torch")
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")


def _opt(default: Any, help: str, group: str = "avsr") -> Any:
    return field(default=default, metadata={"help": help, "group": group})


@dataclass(frozen=True)
class ModelOptions:
    """Model options (field metadata: the CLI help, and the ``group`` of inputs it serves)."""

    whisper: str = _opt("whisper-base", "registry name (`avsr models`), CTranslate2 folder, .pt or hub id")
    adapters: str | None = _opt(
        None,
        "folder of adapter sets (`avsr adapters FOLDER` lists them; default: the sets and noise head that ship "
        "for --whisper)",
    )
    adapter: str | None = _opt(None, "use this set instead of the router's choice; 'none' = plain frozen Whisper")
    classifier: str | None = _opt(
        None, "noise classifier checkpoint (a noise head from `avsr train noise-head`, or `avsr train noise`)"
    )
    router: str | None = _opt(None, "YAML router table (default: the router.yaml that came with --adapters)")
    engine: str | None = _opt(
        None,
        "Whisper's runtime: ct2 (CTranslate2, the default on CPU) or torch (the default on a GPU and with --quantize)",
    )
    compute_type: str = _opt(
        "float32",
        "the ct2 engine's weights: float32 (default), int8 or int8_float32 (faster; text may differ slightly)",
    )
    quantize: str | None = _opt(
        None,
        "int8: the torch engine's Whisper linear layers in int8 on CPU (dynamic quantization; faster, text may "
        "differ slightly from float32; with --precision 32-true only)",
    )
    beam: int | None = _opt(
        None, "beam size (default: Whisper 1; avsr VSR 8; Auto-AVSR joint 40 as published, --decode ctc 1 = greedy)"
    )
    batch_size: int = _opt(8, "segments per model batch (default 8)", "run")
    device: str = _opt("cpu", "where models are loaded (before Lightning moves them): cpu (default), cuda", "run")
    vsr: str | None = _opt(
        None,
        "VSR checkpoint folder (avsr train vsr), a published Auto-AVSR visual model (.pth, with --tokens), "
        "or the VALLR authors' vallr_model.pth (words through --p2t, or --phonemes-only)",
        "vsr",
    )
    tokens: str | None = _opt(None, "Auto-AVSR units file unigram5000_units.txt (sha256 checked)", "vsr")
    ctc_weight: float = _opt(0.1, "Auto-AVSR joint decoding: CTC weight (0.1)", "vsr")
    asr: str | None = _opt(
        None, "a published Auto-AVSR audio-only model (.pth, with --tokens) instead of Whisper", "autoavsr"
    )
    avsr: str | None = _opt(
        None,
        "a published Auto-AVSR audio-visual model (.pth, with --tokens): audio + mouth crops (Auto-AVSR crop recipe); "
        "a segment without a face goes to --asr when given, else to Whisper",
        "autoavsr",
    )
    lm: str | None = _opt(
        None,
        "Auto-AVSR models: the subword Transformer LM model.pth (lm_en_subword, model.json beside it) "
        "fused into the joint search",
        "autoavsr",
    )
    lm_config: str | None = _opt(None, "the LM's model.json when it is not beside --lm", "autoavsr")
    lm_weight: float | None = _opt(
        None, "LM weight (0.3 with --lm, as published for the 19.1 WER lip reading)", "autoavsr"
    )
    p2t: str | None = _opt(
        None,
        "phonemes -> words: an adapter folder (avsr train p2t), `lexicon` (dictionary lookup) or `bigram` "
        "(word bigram over the lexicon); default: the shipped adapter p2t-smollm2-135m",
        "vsr",
    )
    phonemes_only: bool = _opt(False, "stop after the phonemes", "vsr")
    decode: str | None = _opt(
        None,
        "avsr VSR: greedy | beam (default); Auto-AVSR: joint (default: attention + CTC beam search) | ctc "
        "(encoder only: greedy at --beam 1, else CTC prefix beam search)",
        "vsr",
    )
    decoding: DecodingOptions | None = field(default=None, metadata={"group": None})  # Whisper's (default: with beam)

    @classmethod
    def default(cls, name: str) -> Any:
        f = cls.__dataclass_fields__[name]
        return None if f.default is MISSING else f.default

    @classmethod
    def help(cls, name: str) -> str:
        return cls.__dataclass_fields__[name].metadata["help"]

    @classmethod
    def of(cls, **kw: Any) -> ModelOptions:
        """From keywords (paths may be ``os.PathLike``; unknown keywords are a TypeError as for any call)."""
        return cls(**{k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in kw.items()})

    @classmethod
    def from_args(cls, args: Any, **over: Any) -> ModelOptions:
        """From a parsed namespace: every field it has an attribute for, then ``over``."""
        kw = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls(**(kw | over))

    def engine_for(self, accelerator: str = "cpu") -> str:
        """The Whisper engine: the one asked for, else ct2 on CPU (faster-whisper's runtime) and torch on
        a GPU or for torch's ``quantize``. The one place this default is decided."""
        if self.engine is not None:
            return self.engine
        return "ct2" if self.device == "cpu" and accelerator == "cpu" and self.quantize is None else "torch"

    def resolved(self, accelerator: str = "cpu") -> ModelOptions:
        """These options with the engine and Whisper's decoding options filled in."""
        return replace(
            self,
            engine=self.engine_for(accelerator),
            decoding=self.decoding or DecodingOptions(beam_size=self.beam or 1),
        )

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
        if self.engine not in (None, *ENGINES):
            raise UsageError(f"--engine must be ct2 or torch, got {self.engine!r}")
        if self.compute_type not in COMPUTE_TYPES:
            raise UsageError(f"--compute-type must be one of {', '.join(COMPUTE_TYPES)}, got {self.compute_type!r}")
        if self.engine == "ct2" and (self.quantize or accelerator != "cpu" or self.device != "cpu"):
            raise UsageError("--engine ct2 runs on CPU; its int8 is --compute-type int8 (--quantize is torch's)")
        if self.compute_type != "float32" and self.engine_for(accelerator) == "torch":
            raise UsageError("--compute-type is the ct2 engine's (torch: --quantize int8)")

    def names(self) -> dict[str, str]:
        """What produced the output, for the record's ``model`` (audio / audio-visual side):
        shipped models by their registry names (portable between machines), other paths as given,
        and Whisper's decoding options where they differ from the defaults."""
        from avsr.core.registry import portable_name

        engine = self.engine_for()
        out = {"whisper": self.whisper, "engine": engine if engine == "torch" else f"ct2 {self.compute_type}"}
        for k in ("adapters", "classifier", "router"):
            if getattr(self, k):
                out[k] = portable_name(getattr(self, k))
        if self.quantize:
            out["quantize"] = self.quantize
        changed = decoding_changes(self.decoding or DecodingOptions(beam_size=self.beam or 1))
        if changed:
            out["decoding"] = changed
        return out


def decoding_changes(opts: DecodingOptions) -> str:
    """Whisper's decoding options that differ from the defaults and change the words, as
    ``name=value`` words (word timestamps do not: the segments' ``words`` show them)."""
    default = DecodingOptions()
    return " ".join(
        f"{f.name}={getattr(opts, f.name)}"
        for f in fields(opts)
        if f.name != "word_timestamps" and getattr(opts, f.name) != getattr(default, f.name)
    )
