"""Which phoneme-to-text model a lip reader uses (``--p2t``), and how the shipped one is written
(:func:`export_adapter`, behind ``data_prep/ship_p2t.py``):

- left out (or ``default``): the adapter that ships with avsr (registry entry ``p2t-smollm2-135m``,
  ``checkpoints/p2t/smollm2-135m-lexicon``, sha256-checked): SmolLM2-135M with LoRA, its lexicon
  hint and its tuned rescoring (``decoding.json``);
- ``lexicon``: dictionary lookup word by word (the shipped folder's spelling counts);
- ``bigram``: the word-bigram decoder over the lexicon's candidates (the shipped folder's counts);
- a folder: an adapter written by ``avsr train p2t``.

Every one is called the same way: ``p2t(phoneme_lists, batch_size, boundaries)`` -> sentences;
``boundaries=False`` for phonemes without word boundaries (the VALLR authors' model), which the
bigram search places first.
"""

from __future__ import annotations

import os
from pathlib import Path

from avsr.p2t.bigram import BIGRAM_NAME, BigramDecoder, load_bigram
from avsr.p2t.lexicon import DictionaryDecoder
from avsr.text import BOUNDARY

SHIPPED = "p2t-smollm2-135m"  # the registry entry of the adapter that ships
WORD_DECODERS = ("lexicon", "bigram")  # the non-neural choices of --p2t


def shipped_folder() -> Path:
    """The shipped adapter folder, its files' sha256 checked against the registry."""
    from avsr.core.registry import REGISTRY, registry, verified_files

    verified_files(SHIPPED)
    return REGISTRY.parent.parent / registry()[SHIPPED]["folder"]


class WordDecoder:
    """``--p2t lexicon`` and ``--p2t bigram``: phoneme-to-text without a neural model."""

    def __init__(self, method: str, lexicon: DictionaryDecoder, bigram: BigramDecoder):
        if method not in WORD_DECODERS:
            raise ValueError(f"method must be one of {WORD_DECODERS}, got {method!r}")
        self.method, self.lexicon, self.bigram = method, lexicon, bigram

    def describe(self) -> str:
        return {"lexicon": "dictionary lookup", "bigram": BIGRAM_NAME}[self.method]

    def __call__(self, phoneme_lists: list[list[str]], batch_size: int = 16, boundaries: bool = True) -> list[str]:
        out = []
        for ph in phoneme_lists:
            if not any(p != BOUNDARY for p in ph):
                out.append("")
            elif self.method == "bigram":
                out.append(self.bigram(ph, boundaries))
            else:
                out.append(self.lexicon(ph if boundaries else self.bigram.segment(ph)))
        return out


def load_phoneme_to_text(spec: str | os.PathLike | None = None, device: str = "cpu", merge: bool = True):
    """The phoneme-to-text model ``spec`` names (see the module docstring); ``merge`` folds the
    LoRA weights into the base (faster, same outputs)."""
    from avsr.core.errors import CheckpointError
    from avsr.p2t.model import LEXICON_COUNTS, load_p2t
    from avsr.p2t.rescore import DecodingConfig

    if spec in WORD_DECODERS:
        folder = shipped_folder()
        lexicon = DictionaryDecoder.from_counts_file(folder / LEXICON_COUNTS)
        bigram = load_bigram(folder, lexicon, DecodingConfig.load(folder).bigram_weight)
        if bigram is None:
            raise CheckpointError(f"{folder}: the shipped phoneme-to-text folder has no bigram counts")
        return WordDecoder(os.fspath(spec), lexicon, bigram)
    folder = shipped_folder() if spec in (None, "", "default") else Path(spec)
    return load_p2t(folder, merge=merge, device=device)


def describe(spec: str | os.PathLike | None) -> str:
    """How a run record names the phoneme-to-text model."""
    if spec in (None, "", "default"):
        return SHIPPED
    return os.fspath(spec)


def export_adapter(src: str | os.PathLike, dst: str | os.PathLike, decoding=None, half: bool = True) -> list[Path]:
    """A copy of the adapter folder ``src`` to ship: the LoRA weights stored in float16 with
    ``half`` (half the size; they are cast back to the model's dtype when loaded), the other files
    as they are, and ``decoding`` (a :class:`~avsr.p2t.rescore.DecodingConfig`) as its
    ``decoding.json`` when given. Returns the files written, sorted."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from avsr.core.errors import MissingModelError
    from avsr.p2t.bigram import BIGRAM_COUNTS
    from avsr.p2t.model import ADAPTER_CONFIG, LEXICON_COUNTS

    src, dst = Path(src), Path(dst)
    if not (src / ADAPTER_CONFIG).is_file():
        raise MissingModelError(f"{src}: not a phoneme-to-text adapter folder (no {ADAPTER_CONFIG})")
    dst.mkdir(parents=True, exist_ok=True)
    weights = load_file(src / "adapter_model.safetensors")
    dtype = torch.float16 if half else None
    save_file(
        {k: (v.to(dtype) if dtype else v).contiguous() for k, v in weights.items()}, dst / "adapter_model.safetensors"
    )
    for name in ("adapter_config.json", ADAPTER_CONFIG, LEXICON_COUNTS, BIGRAM_COUNTS):
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
    if decoding is not None:
        decoding.save(dst)
    elif (src / "decoding.json").is_file():
        shutil.copyfile(src / "decoding.json", dst / "decoding.json")
    return sorted(p for p in dst.iterdir() if p.is_file())
