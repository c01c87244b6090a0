"""The CTranslate2 engine: Whisper and its adapter sets at faster-whisper speed.

Each model the engine runs is a CTranslate2 folder in the cache, made once:

- the frozen Whisper of the registry is its own package files (faster-whisper's format; a
  model.bin split across packages is joined once);
- any other Whisper, and every adapter set, is converted from the PyTorch model: the set's LoRA
  merged into a copy of the weights (``W + B A alpha/r``), then CTranslate2's own converter.

A folder's name carries the Whisper's sha256 and the set's content hash, and its
``avsr_ct2.json`` (written last, inside the folder that is renamed into place) records them with
the size of model.bin: a folder whose record is missing or does not match is rebuilt, never used.
Compute types float32, int8 and int8_float32 come from CTranslate2's quantisation at load.

The fusion of an audio-visual set stays in PyTorch: it corrects the log-mel, and the corrected
features go to CTranslate2's encoder; generation then runs on the encoder output. Decoding
follows :mod:`avsr.av.decoding` (temperature fallback, no-speech test) as in the PyTorch engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avsr.av.decoding import DecodingOptions, Hypothesis, decode_with_fallback, sample_len, text_tokens
from avsr.core.errors import UsageError
from avsr.core.files import build_dir

COMPUTE_TYPES = ("float32", "int8", "int8_float32")
MARK = "avsr_ct2.json"
NO_SET = "none"


def content_hash(files: Sequence[str | os.PathLike]) -> str:
    """sha256 over the names and bytes of ``files`` (an adapter set's content)."""
    h = hashlib.sha256()
    for p in sorted(map(Path, files), key=lambda p: p.name):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _complete(folder: Path, key: dict[str, str]) -> bool:
    try:
        mark = json.loads((folder / MARK).read_text())
        return mark.get("key") == key and (folder / "model.bin").stat().st_size == mark.get("model_bytes")
    except (OSError, ValueError):
        return False


def _seal(folder: Path, key: dict[str, str]) -> None:
    (folder / MARK).write_text(json.dumps({"key": key, "model_bytes": (folder / "model.bin").stat().st_size}))


def _join_registry(files: list[Path], out: Path) -> None:
    with open(out / "model.bin", "wb") as f:
        for part in files:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 22)
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json", "preprocessor_config.json"):
        if (files[0].parent / extra).is_file():
            shutil.copy2(files[0].parent / extra, out / extra)


def registry_folder(name: str, cache: str | os.PathLike | None = None) -> Path:
    """The CTranslate2 folder of registry Whisper ``name`` as faster-whisper loads it: the
    package's own folder, or (a model.bin split across packages) the parts joined once in the cache."""
    from avsr.core.registry import cache_dir, verified_files

    files = verified_files(name)
    if len(files) == 1 and files[0].name == "model.bin":
        return files[0].parent
    root = Path(cache) if cache else cache_dir() / "ct2"
    return cached_set(root, registry_key(name), NO_SET, "frozen", lambda tmp: _join_registry(files, tmp))


def _convert_torch(whisper, processor, out: Path) -> None:
    """A transformers Whisper (LoRA already merged) -> CTranslate2 float32 in ``out``."""
    import tempfile

    from ctranslate2.converters import TransformersConverter

    with tempfile.TemporaryDirectory(dir=out.parent) as hf:
        whisper.save_pretrained(hf, safe_serialization=True)
        processor.save_pretrained(hf)
        extra = [f for f in ("tokenizer.json", "preprocessor_config.json") if (Path(hf) / f).is_file()]
        TransformersConverter(hf, copy_files=extra).convert(str(out), quantization="float32", force=True)


def merged_whisper(av, name: str):
    """A copy of ``av``'s Whisper with set ``name``'s LoRA merged into its weights."""
    import copy

    peft = copy.deepcopy(av.peft)
    peft.base_model.set_adapter(name)
    return peft.merge_and_unload(adapter_names=[name])


class WhisperTokens:
    """What decoding needs of the tokenizer: the prompt, end of text, the no-speech token and the
    text of some ids; from a ``tokenizer.json`` (the ``tokenizers`` library, no transformers) or
    from a transformers tokenizer (same file, same ids)."""

    def __init__(self, token_id, decode, multilingual: bool, eot: int | None = None, prompt=None):
        self._id, self._decode, self.multilingual, self._prompt = token_id, decode, multilingual, prompt
        self.eot = token_id("<|endoftext|>") if eot is None else eot
        self.no_speech = next((i for i in map(token_id, ("<|nospeech|>", "<|nocaptions|>")) if i is not None), None)

    @classmethod
    def from_file(cls, tokenizer_json: str | os.PathLike, multilingual: bool) -> WhisperTokens:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(os.fspath(tokenizer_json))
        return cls(tok.token_to_id, lambda ids: tok.decode(ids, skip_special_tokens=True), multilingual)

    @classmethod
    def from_model(cls, whisper, tok) -> WhisperTokens:
        """A transformers Whisper's tokenizer, with the prompt of its generation config."""
        from avsr.av.torch_decoding import prompt_ids
        from avsr.av.whisper import is_multilingual

        def token_id(t: str) -> int | None:
            i = tok.convert_tokens_to_ids(t)
            return None if i is None or i == tok.unk_token_id else i

        return cls(
            token_id,
            lambda ids: tok.decode(ids, skip_special_tokens=True),
            is_multilingual(whisper),
            eot=tok.eos_token_id,
            prompt=lambda language: prompt_ids(whisper, tok, language),
        )

    def prompt(self, language: str | None = "en") -> list[int]:
        """``<|startoftranscript|>`` [language, transcribe] ``<|notimestamps|>``."""
        if self._prompt is not None:
            return self._prompt(language)
        ids = [self._id("<|startoftranscript|>")]
        if self.multilingual:
            ids += [self._id(f"<|{language or 'en'}|>"), self._id("<|transcribe|>")]
        return ids + [self._id("<|notimestamps|>")]

    def text(self, ids: Sequence[int]) -> str:
        return " ".join(self._decode(list(ids)).split())


class TorchSets:
    """The CTranslate2 folders of a PyTorch :class:`~avsr.av.model.AVWhisper`'s frozen Whisper and
    sets: converted from its weights (LoRA merged) when the cache has no whole folder."""

    def __init__(self, av, cache: str | os.PathLike | None = None):
        from avsr.core.registry import cache_dir

        self.av, self.cache = av, Path(cache) if cache else cache_dir() / "ct2"

    def whisper_key(self) -> str:
        from avsr.core.registry import registry

        if self.av.whisper_name in registry():
            return registry_key(self.av.whisper_name)
        return (
            "w"
            + hashlib.sha256(
                b"".join(p.detach().cpu().numpy().tobytes() for p in self.av.whisper.parameters())
            ).hexdigest()[:32]
        )

    def __call__(self, name: str = NO_SET) -> Path:
        """The CTranslate2 folder of set ``name`` (``none``: the frozen Whisper), built if need be."""
        from avsr.core.registry import registry

        wname = self.av.whisper_name
        if name == NO_SET and wname in registry() and registry()[wname].get("kind") == "whisper":
            return registry_folder(wname, self.cache)

        def build(tmp: Path) -> None:
            model = self._plain_copy() if name == NO_SET else merged_whisper(self.av, name)
            _convert_torch(model, self.av.processor, tmp)

        return cached_set(self.cache, self.whisper_key(), name, self.set_hash(name), build)

    def set_hash(self, name: str) -> str:
        if name == NO_SET:
            return "frozen"
        folder = self.av.folders.get(name)
        if folder is not None and folder.is_dir():
            return content_hash([p for p in folder.iterdir() if p.is_file()])
        # a set made in this process and not saved: hash its LoRA weights
        return (
            "m"
            + hashlib.sha256(
                b"".join(
                    p.detach().cpu().numpy().tobytes()
                    for n, p in sorted(self.av.whisper.named_parameters())
                    if f".{name}." in n and "lora_" in n
                )
            ).hexdigest()
        )

    def _plain_copy(self):
        import copy

        if self.av.peft is None:
            return self.av.whisper
        return copy.deepcopy(self.av.peft).unload()


def registry_key(name: str) -> str:
    """The cache key of registry Whisper ``name``: its files' sha256 prefixes."""
    from avsr.core.registry import registry

    return "+".join(f["sha256"][:16] for f in registry()[name]["files"])


def cached_set(cache: Path, whisper_key: str, name: str, set_hash: str, build) -> Path:
    """The cached CTranslate2 folder of set ``name`` of the Whisper keyed ``whisper_key``: used
    when whole, else ``build(tmp)`` writes it (then it is sealed and renamed into place)."""
    key = {"whisper": whisper_key, "set": set_hash}

    def make(tmp: Path) -> None:
        build(tmp)
        _seal(tmp, key)

    return build_dir(cache / f"{whisper_key[:24]}-{name}-{set_hash[:12]}", make, lambda p: _complete(p, key))


class CT2Whisper:
    """CTranslate2 models of a frozen Whisper and its sets, loaded on first use and kept
    (switching sets then costs nothing). ``folder_of(name)``: the CTranslate2 folder of set
    ``name`` (``none``: the frozen model), built if need be; ``compute_type``: float32 | int8 |
    int8_float32. :meth:`of` makes one for a PyTorch :class:`~avsr.av.model.AVWhisper`."""

    def __init__(
        self,
        folder_of,
        tokens: WhisperTokens | None = None,
        compute_type: str = "float32",
        threads: int = 0,
        max_length: int | None = None,
    ):
        import ctranslate2

        if compute_type not in COMPUTE_TYPES:
            raise UsageError(f"compute type must be one of {COMPUTE_TYPES}, got {compute_type!r}")
        self.folder, self.compute_type, self.threads, self.max_length = folder_of, compute_type, threads, max_length
        self.models: dict[str, Any] = {}
        self._ct2 = ctranslate2
        if tokens is None:
            frozen = self.model(NO_SET)
            tokens = WhisperTokens.from_file(self.folder(NO_SET) / "tokenizer.json", frozen.is_multilingual)
        self.tokens = tokens

    @classmethod
    def of(cls, av, compute_type: str = "float32", threads: int = 0, cache: str | os.PathLike | None = None):
        """The engine of PyTorch ``av`` (its sets converted from its weights; its tokenizer)."""
        tokens = WhisperTokens.from_model(av.whisper, av.processor.tokenizer)
        max_length = getattr(av.whisper.generation_config, "max_length", None)
        return cls(TorchSets(av, cache), tokens, compute_type, threads, max_length)

    def model(self, name: str = NO_SET):
        """The loaded CTranslate2 Whisper of set ``name`` (a broken cache folder is rebuilt once)."""
        if name not in self.models:
            folder = self.folder(name)
            try:
                m = self._load(folder)
            except RuntimeError:
                shutil.rmtree(folder, ignore_errors=True)
                m = self._load(self.folder(name))
            self.models[name] = m
        return self.models[name]

    def _load(self, folder: Path):
        return self._ct2.models.Whisper(
            str(folder), device="cpu", compute_type=self.compute_type, intra_threads=self.threads
        )

    # ----- compute
    def encode(self, name: str, features: np.ndarray):
        """(B, n_mels, 3000) float32 log-mel (fused already for an audio-visual set) -> encoder output."""
        x = self._ct2.StorageView.from_array(np.ascontiguousarray(features, dtype=np.float32))
        return self.model(name).encode(x, to_cpu=True)

    def decode(
        self,
        name: str,
        features: np.ndarray,
        audio: Sequence[np.ndarray | None] | None = None,
        opts: DecodingOptions = DecodingOptions(),
    ) -> list[Hypothesis]:
        """Whisper-grade decoding of a batch of log-mel windows with set ``name``."""
        model = self.model(name)
        enc = np.array(self.encode(name, features))
        prompt = self.tokens.prompt(opts.language)
        max_length = 2 * sample_len(self.max_length, opts)

        def run(rows: np.ndarray, **kw) -> list[Hypothesis]:
            res = model.generate(
                self._ct2.StorageView.from_array(np.ascontiguousarray(rows)),
                [prompt] * len(rows),
                max_length=max_length,
                return_scores=True,
                return_no_speech_prob=self.tokens.no_speech is not None,
                **kw,
            )
            out = []
            for r in res:  # the best hypothesis of each row
                n = len(r.sequences_ids[0])
                toks = text_tokens(r.sequences_ids[0], self.tokens.eot)
                avg = r.scores[0] * n / (n + 1)  # score = summed log-prob / length (length penalty 1)
                out.append(Hypothesis(toks, self.tokens.text(toks), avg, float(getattr(r, "no_speech_prob", 0.0))))
            return out

        def decode(idx: list[int], t: float) -> list[Hypothesis]:
            if t == 0:
                return run(enc[idx], beam_size=opts.beam_size)
            out = []
            for i in idx:  # one item at a time, seeded: its text does not depend on the batch
                if opts.seed is not None:
                    self._ct2.set_random_seed(opts.seed)
                kw = {"num_hypotheses": opts.best_of, "sampling_topk": 0, "sampling_temperature": t}
                out += run(enc[i : i + 1], beam_size=1, **kw)
            return out

        return decode_with_fallback(decode, list(audio) if audio is not None else [None] * len(enc), opts)
