"""The CTranslate2 engine: Whisper and its adapter sets at faster-whisper speed.

Each model the engine runs is a CTranslate2 folder of the cache (:mod:`avsr.whisper.ct2_cache`: made
once per Whisper and set, LoRA merged, rebuilt when not whole). Compute types float32, int8 and
int8_float32 come from CTranslate2's quantisation at load.

The fusion of an audio-visual set stays in PyTorch: it corrects the log-mel, and the corrected
features go to CTranslate2's encoder; generation then runs on the encoder output. Decoding
follows :mod:`avsr.whisper.decoding` (temperature fallback, no-speech test) as in the PyTorch engine.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avsr.core.errors import UsageError
from avsr.whisper.ct2_cache import COMPUTE_TYPES
from avsr.whisper.decoding import DecodingOptions, Hypothesis, decode_with_fallback, sample_len, text_tokens
from avsr.whisper.frozen import NO_SET


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
        from avsr.whisper.load import is_multilingual
        from avsr.whisper.torch_engine import prompt_ids

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

    def piece(self, ids: Sequence[int]) -> str:
        """The text of ``ids`` as decoded, spaces kept (a word's first token starts with one)."""
        return self._decode(list(ids))


class CT2Whisper:
    """CTranslate2 models of a frozen Whisper and its sets, loaded on first use and kept
    (switching sets then costs nothing). ``folder_of(name)``: the CTranslate2 folder of set
    ``name`` (``none``: the frozen model), built if need be; ``compute_type``: float32 | int8 |
    int8_float32. :meth:`of` makes one for a transformers Whisper."""

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
    def of(cls, whisper, processor, folder_of, compute_type: str = "float32", threads: int = 0) -> CT2Whisper:
        """The engine of a transformers Whisper (its tokenizer and generation length);
        ``folder_of(name)``: the CTranslate2 folders of its variants, converted from its weights
        (:class:`~avsr.adapters.ct2_sets.TorchSets` for an adapter bank)."""
        tokens = WhisperTokens.from_model(whisper, processor.tokenizer)
        max_length = getattr(whisper.generation_config, "max_length", None)
        return cls(folder_of, tokens, compute_type, threads, max_length)

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

        hyps = decode_with_fallback(decode, list(audio) if audio is not None else [None] * len(enc), opts)
        if opts.word_timestamps:
            self._word_times(model, enc, prompt, hyps, audio)
        return hyps

    def _word_times(self, model, enc: np.ndarray, prompt: list[int], hyps: list[Hypothesis], audio) -> None:
        """Each hypothesis's words with their times: CTranslate2's alignment (its alignment
        heads, median filter and DTW), then :func:`avsr.whisper.timestamps.words_from_path` with
        the row's voice activity (:func:`avsr.whisper.vad.speech_frames`)."""
        from avsr.core.media import SAMPLE_RATE
        from avsr.whisper.mel_numpy import HOP, WHISPER_FRAMES
        from avsr.whisper.timestamps import split_words, words_from_path
        from avsr.whisper.vad import speech_frames

        idx = [i for i, h in enumerate(hyps) if h.tokens]
        if not idx:
            return
        frames = [WHISPER_FRAMES if audio is None or audio[i] is None else len(audio[i]) // HOP for i in idx]
        res = model.align(
            self._ct2.StorageView.from_array(np.ascontiguousarray(enc[idx])),
            prompt,
            [hyps[i].tokens for i in idx],
            frames,
        )
        for i, n, r in zip(idx, frames, res):
            path = np.array(r.alignments, dtype=np.int64).reshape(-1, 2)
            words = split_words(hyps[i].tokens, self.tokens.piece, self.tokens.eot)
            speech = None if audio is None or audio[i] is None else speech_frames(audio[i])
            hyps[i].words = words_from_path(
                words, path[:, 0], path[:, 1], r.text_token_probs, end=n * HOP / SAMPLE_RATE, speech=speech
            )
