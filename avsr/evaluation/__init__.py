"""Evaluation on test manifests (LRS2/LRS3 or one's own): VSR, ASR and AVSR, clean and under noise.

- :mod:`~avsr.evaluation.scoring`: one normalizer, per-utterance counts, corpus WER, bootstrap
  interval, word alignment;
- :mod:`~avsr.evaluation.conditions`: conditions (clean, category x SNR), deterministic mixtures,
  the noise classifier's report;
- :mod:`~avsr.evaluation.decoding`: the test manifest, and the systems run over it (Whisper
  through the recogniser ``avsr transcribe`` uses: frozen, each set, and ``routed``; the lip
  readers with phoneme-to-text or dictionary lookup);
- :mod:`~avsr.evaluation.systems`: whole evaluations (``evaluate_whisper``, ``evaluate_lipreading``);
- :mod:`~avsr.evaluation.tables`, :mod:`~avsr.evaluation.published`,
  :mod:`~avsr.evaluation.report`, :mod:`~avsr.evaluation.run`: the run's folder (JSONL, Markdown,
  CSV, plots, published numbers, HTML report).

``avsr eval asr|avsr|vsr`` (``avsr/cli.py``) is the command line over these.
"""
