"""Lip reading, stage 2 (VALLR): ARPAbet phonemes -> text with a LoRA-fine-tuned LLM.

- :mod:`~avsr.p2t.prompt`: the prompt format and its token encoding (training and inference share it);
- :mod:`~avsr.p2t.model`: ``PhonemeToText`` (``load_p2t(adapter folder)``), generation and decoding settings;
- :mod:`~avsr.p2t.rescore`: candidate rescoring (n-best, hybrids, LM prior, phoneme consistency);
- :mod:`~avsr.p2t.lattice`: word-lattice beam search with the LLM;
- :mod:`~avsr.p2t.lexicon`: ``DictionaryDecoder``, the dictionary-lookup baseline;
- :mod:`~avsr.p2t.bigram`: the word-bigram decoder over the lexicon's candidates, which also places
  word boundaries in phonemes that have none (the VALLR authors' model);
- :mod:`~avsr.p2t.load`: which model ``--p2t`` names (the shipped adapter by default, ``lexicon``,
  ``bigram``, a folder).
"""

__all__ = ["prompt", "model", "rescore", "lattice", "lexicon", "bigram", "load"]
