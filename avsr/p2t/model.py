"""Phoneme-to-text (VALLR stage 2): a causal LM with LoRA turns a phoneme string into a sentence
(the prompt format is in :mod:`avsr.p2t.prompt`). Generation is greedy, or a beam n-best for
the rescoring of :mod:`avsr.p2t.rescore`, and stops at end-of-sequence or a newline.

The spelling counts behind the lookup travel in the adapter folder (``lexicon_counts.json``), and
the word-bigram counts (``bigram_counts.tsv.gz``, :mod:`avsr.p2t.bigram`) that place word
boundaries in phonemes that have none (``boundaries=False``: the VALLR authors' model emits none)
and add the bigram decoder's reading to the rescoring candidates.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from avsr.core.configs import from_dict
from avsr.core.errors import MissingModelError
from avsr.p2t.prompt import HINTS, format_prompt, prepare_tokenizer
from avsr.text import BOUNDARY

ADAPTER_CONFIG = "p2t_config.json"
LEXICON_COUNTS = "lexicon_counts.json"
TOKENS_PER_WORD = 4  # generous: English words average ~1.3 tokens; lost word boundaries merge words


@dataclass(frozen=True)
class P2TConfig:
    """base: a registry name (``avsr models``), a Hugging Face hub id or a local model folder;
    ``gguf_file`` when the folder holds a GGUF file. LoRA defaults follow VALLR's released
    code: r=16, alpha=32, dropout 0.05, on every attention and MLP projection."""

    base: str = "smollm2-135m-instruct"
    gguf_file: str | None = None
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    max_length: int = 384  # tokens of prompt + answer (longer examples are cut from the prompt's start)
    max_new_tokens: int = 64
    hint: str = "none"  # "lexicon": the prompt also holds the dictionary-lookup reading

    def __post_init__(self) -> None:
        if self.hint not in HINTS:
            raise ValueError(f"P2TConfig.hint must be one of {HINTS}, got {self.hint!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d


def load_base(cfg: P2TConfig, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) of the base LM, from the registry, a local folder or the hub."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from avsr.core.registry import resolve_llm

    path, gguf = resolve_llm(cfg.base, cfg.gguf_file)
    kw = {"gguf_file": gguf} if gguf else {}
    tok = AutoTokenizer.from_pretrained(path, **kw)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
    return model, prepare_tokenizer(tok)


def add_lora(model, cfg: P2TConfig):
    from peft import LoraConfig, get_peft_model

    lc = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lc)


def _stop_ids(tok) -> list[int]:
    ids = {tok.eos_token_id}
    nl = tok("\n", add_special_tokens=False)["input_ids"]
    if len(nl) == 1:
        ids.add(nl[0])
    return sorted(i for i in ids if i is not None)


@torch.inference_mode()
def generate_nbest(
    model,
    tok,
    phoneme_lists: list[list[str]],
    max_new_tokens: int = 64,
    batch_size: int = 16,
    hints: list[str] | None = None,
    beams: int = 1,
) -> list[list[str]]:
    """Up to ``beams`` sentences for each phoneme sequence (and its hint, when the model was
    trained with one), best first: greedy decoding for ``beams=1``, beam search otherwise. In
    batches (left padded); each sentence stops at EOS or a newline."""
    if hints is not None and len(hints) != len(phoneme_lists):
        raise ValueError(f"{len(hints)} hints for {len(phoneme_lists)} phoneme sequences")
    device = next(model.parameters()).device
    side = tok.padding_side
    tok.padding_side = "left"
    beam_kw = {"num_beams": beams, "num_return_sequences": beams, "early_stopping": True} if beams > 1 else {}
    # similar lengths batched together (less padding, and a batch ends when its longest does)
    order = sorted(range(len(phoneme_lists)), key=lambda i: len(phoneme_lists[i]))
    out: dict[int, list[str]] = {}
    try:
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batch = [phoneme_lists[i] for i in idx]
            prompts = [format_prompt(phoneme_lists[i], hints[i] if hints else None) for i in idx]
            # a sentence has about as many words as phoneme words: cap runaway repetition
            limit = min(max_new_tokens, TOKENS_PER_WORD * max(p.count(BOUNDARY) + 1 for p in batch) + 8)
            enc = tok(
                prompts, return_tensors="pt", padding=True, add_special_tokens=getattr(tok, "add_bos_token", False)
            ).to(device)
            gen = model.generate(
                **enc,
                max_new_tokens=limit,
                do_sample=False,
                eos_token_id=_stop_ids(tok),
                pad_token_id=tok.pad_token_id,
                **beam_kw,
            )
            texts = [
                " ".join(tok.decode(row, skip_special_tokens=True).split("\n")[0].split())
                for row in gen[:, enc["input_ids"].shape[1] :]
            ]
            for k, i in enumerate(idx):
                out[i] = list(dict.fromkeys(texts[k * beams : (k + 1) * beams]))  # distinct, best first
    finally:
        tok.padding_side = side
    return [out[i] for i in range(len(phoneme_lists))]


def generate(
    model,
    tok,
    phoneme_lists: list[list[str]],
    max_new_tokens: int = 64,
    batch_size: int = 16,
    hints: list[str] | None = None,
) -> list[str]:
    """Greedy decoding of one sentence per phoneme sequence (see :func:`generate_nbest`)."""
    return [n[0] for n in generate_nbest(model, tok, phoneme_lists, max_new_tokens, batch_size, hints)]


def save_adapter(
    model,
    folder: str | os.PathLike,
    cfg: P2TConfig,
    extra: dict[str, Any] | None = None,
    lexicon=None,
    bigram=None,
) -> Path:
    """peft adapter folder (adapter_config.json + adapter_model.safetensors) plus the P2T config
    and, for ``hint: lexicon``, the lookup's spelling counts; ``bigram`` (a
    :class:`~avsr.p2t.bigram.BigramLM`) is saved beside them."""
    from avsr.core.files import atomic_path
    from avsr.p2t.bigram import BIGRAM_COUNTS

    folder = Path(folder)
    if cfg.hint == "lexicon" and lexicon is None:
        raise ValueError("hint: lexicon needs the DictionaryDecoder the adapter was trained with")
    model.save_pretrained(str(folder), safe_serialization=True)
    if lexicon is not None:
        lexicon.save_counts(folder / LEXICON_COUNTS)
    if bigram is not None:
        bigram.save(folder / BIGRAM_COUNTS)
    with atomic_path(folder / ADAPTER_CONFIG) as tmp:
        tmp.write_text(json.dumps({"p2t": cfg.to_dict(), **(extra or {})}, indent=1))
    return folder


class PhonemeToText:
    """A loaded phoneme-to-text model: ``p2t([phonemes, ...]) -> [text, ...]``. With
    ``decoding.rescore`` each sentence is chosen among candidates by phoneme-consistency
    rescoring (:mod:`avsr.p2t.rescore`); otherwise it is the LM's greedy sentence."""

    def __init__(self, model, tok, cfg: P2TConfig, lexicon=None, decoding=None, bigram=None):
        from avsr.p2t.rescore import DecodingConfig

        if cfg.hint == "lexicon" and lexicon is None:
            raise ValueError("this adapter was trained with hint: lexicon; pass its DictionaryDecoder")
        self.model, self.tok, self.cfg, self.lexicon = model, tok, cfg, lexicon
        self.bigram = bigram  # a BigramDecoder: boundaries for phonemes without, a rescoring candidate
        self.decoding = decoding or DecodingConfig()

    def describe(self) -> str:
        """How the sentences are chosen (a line for run records)."""
        return self.decoding.describe()

    def with_boundaries(self, phoneme_lists: list[list[str]], boundaries: bool = True) -> list[list[str]]:
        """The inputs as the LM reads them: as given, or with ``boundaries=False`` (phonemes from
        a model that emits no word boundaries) with boundaries placed by the bigram search."""
        if boundaries:
            return phoneme_lists
        if self.bigram is None:
            raise MissingModelError(
                "these phonemes have no word boundaries (the VALLR model emits none) and this adapter "
                "folder has no bigram_counts.tsv.gz to place them; use the shipped adapter (leave out --p2t) "
                "or one trained by `avsr train p2t`, which writes it"
            )
        return [self.bigram.segment(p) for p in phoneme_lists]

    def hints(self, phoneme_lists: list[list[str]]) -> list[str] | None:
        return [self.lexicon(p, mark_guesses=True) for p in phoneme_lists] if self.cfg.hint == "lexicon" else None

    def candidates(
        self, phoneme_lists: list[list[str]], batch_size: int = 16, boundaries: bool = True, all_scores: bool = False
    ):
        """:class:`avsr.p2t.rescore.Candidates` for each phoneme sequence (``__call__`` gives
        empty ones no text without asking): the LM's ``decoding.beams`` best sentences and, with a
        lexicon, the lookup's reading (and the bigram decoder's, with ``decoding.bigram``), each
        with its LM log-probability and phoneme distance. ``boundaries=False``: see
        :meth:`with_boundaries`; distances are then measured without boundaries. The LM's
        direct score is left at 0 when ``decoding.direct_weight`` is 0 (one pass over the
        candidates saved), unless ``all_scores`` (tuning needs every score)."""
        from avsr.p2t.rescore import Candidates, answer_logprobs, hybrids, phoneme_distances

        given = phoneme_lists
        phoneme_lists = self.with_boundaries(phoneme_lists, boundaries)
        hints = self.hints(phoneme_lists)
        nbest = generate_nbest(
            self.model, self.tok, phoneme_lists, self.cfg.max_new_tokens, batch_size, hints, self.decoding.beams
        )
        texts, sources = [], []
        for ph, n in zip(phoneme_lists, nbest):
            lookup = [self.lexicon(ph)] if self.lexicon is not None and self.decoding.lookup_candidate else []
            bigram = [self.bigram(ph)] if self.bigram is not None and self.decoding.bigram else []
            mixed = hybrids(lookup[0], n[0]) if lookup and self.decoding.hybrids else []
            mixed_bigram = hybrids(bigram[0], n[0]) if bigram and self.decoding.hybrids else []
            found = self.lattice(ph) if self.decoding.lattice and self.lexicon is not None else []
            src: dict[str, list[str]] = {}  # text -> the options that proposed it (the LM's first, even if empty)
            for kind, ts in (
                ("llm", n),
                ("lookup", lookup),
                ("bigram", bigram + mixed_bigram),
                ("hybrid", mixed),
                ("lattice", found),
            ):
                for t in ts:
                    if (t or kind == "llm") and kind not in src.setdefault(t, []):
                        src[t].append(kind)
            texts.append(tuple(src))
            sources.append(tuple(tuple(v) for v in src.values()))
        pairs = [(i, t) for i, ts in enumerate(texts) for t in ts]
        prompts = [(phoneme_lists[i], hints[i] if hints else None) for i, _ in pairs]
        answers = [t for _, t in pairs]
        direct = all_scores or self.decoding.direct_weight != 0 or not self.decoding.uses_prior
        logp = (
            answer_logprobs(self.model, self.tok, prompts, answers, self.cfg.max_length, batch_size)
            if direct
            else [0.0] * len(answers)
        )
        prior = (
            answer_logprobs(self.model, self.tok, [None] * len(pairs), answers, self.cfg.max_length, batch_size)
            if self.decoding.uses_prior
            else []
        )
        dist = phoneme_distances(answers, [given[i] for i, _ in pairs], boundaries)
        out, k = [], 0
        for ts, src in zip(texts, sources):
            span = slice(k, k + len(ts))
            out.append(Candidates(ts, tuple(logp[span]), tuple(dist[span]), tuple(prior[span]), src))
            k += len(ts)
        return out

    def lattice(self, phonemes: list[str]) -> list[str]:
        """The best sentences of the word-lattice search (:mod:`avsr.p2t.lattice`) over the
        lexicon's spellings of each phoneme word under the LM prior, best first."""
        from avsr.p2t.lattice import lattice_search
        from avsr.p2t.rescore import PRIOR_PROMPT
        from avsr.text import words_of

        prompt = self.tok(PRIOR_PROMPT, add_special_tokens=False)["input_ids"]
        options = [self.lexicon.alternatives(w, self.decoding.lattice_words) for w in words_of(phonemes)]
        return [
            t
            for t, _ in lattice_search(
                self.model, self.tok, prompt, options, self.decoding.lattice, self.decoding.lattice_weight
            )
        ]

    def __call__(self, phoneme_lists: list[list[str]], batch_size: int = 16, boundaries: bool = True) -> list[str]:
        """Sentences for phoneme sequences; ``boundaries=False`` for phonemes from a model that
        emits no word boundaries (:meth:`with_boundaries`)."""
        todo = [i for i, p in enumerate(phoneme_lists) if any(x != BOUNDARY for x in p)]
        texts = [""] * len(phoneme_lists)  # no phonemes -> no text, without asking the LM
        sub = [phoneme_lists[i] for i in todo]
        if self.decoding.rescore:
            found = [c.choose(self.decoding) for c in self.candidates(sub, batch_size, boundaries)]
        else:
            sub = self.with_boundaries(sub, boundaries)
            found = generate(self.model, self.tok, sub, self.cfg.max_new_tokens, batch_size, self.hints(sub))
        for i, t in zip(todo, found):
            texts[i] = t
        return texts


def load_p2t(folder: str | os.PathLike, merge: bool = False, device: str = "cpu", decoding=None) -> PhonemeToText:
    """The :class:`PhonemeToText` of an adapter folder written by :func:`save_adapter`; its
    decoding settings are ``decoding`` when given, else the folder's ``decoding.json`` (written
    by ``eval/p2t_wer.py --tune``), else greedy."""
    from peft import PeftModel

    from avsr.p2t.bigram import load_bigram
    from avsr.p2t.lexicon import DictionaryDecoder
    from avsr.p2t.rescore import DecodingConfig

    folder = Path(folder)
    if not (folder / ADAPTER_CONFIG).is_file() or not (folder / "adapter_config.json").is_file():
        raise MissingModelError(
            f"{folder}: not a phoneme-to-text adapter folder (needs {ADAPTER_CONFIG} and adapter_config.json)"
        )
    cfg = from_dict(P2TConfig, json.loads((folder / ADAPTER_CONFIG).read_text())["p2t"])
    lexicon = None
    if cfg.hint == "lexicon":
        if not (folder / LEXICON_COUNTS).is_file():
            raise MissingModelError(f"{folder}: adapter trained with hint: lexicon but {LEXICON_COUNTS} is missing")
        lexicon = DictionaryDecoder.from_counts_file(folder / LEXICON_COUNTS)
    base, tok = load_base(cfg)
    model = PeftModel.from_pretrained(base, str(folder))
    if merge:
        model = model.merge_and_unload()
    decoding = decoding or DecodingConfig.load(folder)
    bigram = load_bigram(folder, lexicon, decoding.bigram_weight)
    return PhonemeToText(model.to(device).eval(), tok, cfg, lexicon, decoding, bigram)
