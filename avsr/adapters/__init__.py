"""The adapter bank: a frozen Whisper and one LoRA adapter set per noise scenario (an
audio-visual set adds its pre-encoder fusion), one set active at a time, behind one declared
interface (:class:`~avsr.adapters.bank.AdapterBank`) that both runtimes implement.

- :mod:`~avsr.adapters.bank`: ``AdapterBank`` (what a recogniser asks of a bank);
- :mod:`~avsr.adapters.torch_bank`: ``AVWhisper``, the bank in PyTorch (training, GPUs, fusion;
  decodes on PyTorch or on CTranslate2 after ``use_ct2``), ``LoraSetConfig``;
- :mod:`~avsr.adapters.ct2_bank`: ``CT2Bank``, a registry Whisper and audio-only sets on
  CTranslate2 alone (no torch);
- :mod:`~avsr.adapters.ct2_sets`: each set's CTranslate2 folder (LoRA merged, converted once):
  ``TorchSets``, ``RegistrySets``, ``ct2_engine``;
- :mod:`~avsr.adapters.sets`: set folders read without a model (``read_set_meta``,
  ``set_folders``, ``list_sets``; ``NO_ADAPTER``, ``AdapterError``);
- :mod:`~avsr.adapters.fusion`: ``AVFusion`` (lip front-end + cross-modal attention -> enhanced
  log-mel), ``FusionConfig``.

Importing the package is cheap (no torch).
"""

__all__ = ["bank", "torch_bank", "ct2_bank", "ct2_sets", "sets", "fusion"]
