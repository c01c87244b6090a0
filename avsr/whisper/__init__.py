"""The Whisper runtime: Whisper from anywhere, run on two engines with one decoding policy. It
knows no noise, no adapter set and no video (the rooms above it: :mod:`avsr.adapters`,
:mod:`avsr.noise`); a variant of the model is only a name and a CTranslate2 folder to it.

- :mod:`~avsr.whisper.load`: a transformers Whisper + processor from a registry name, a
  CTranslate2 / faster-whisper folder, an openai ``.pt`` or a hub id (``load_whisper``);
- :mod:`~avsr.whisper.decoding`: the decoding policy both engines follow (``DecodingOptions``,
  ``Hypothesis``, temperature fallback, no-speech and silence tests);
- :mod:`~avsr.whisper.torch_engine`: decoding on PyTorch (``decode_torch``; word times from the
  alignment heads);
- :mod:`~avsr.whisper.ct2_engine`: decoding on CTranslate2 (``CT2Whisper``, ``WhisperTokens``);
- :mod:`~avsr.whisper.ct2_file`: reading a CTranslate2 ``model.bin`` (NumPy arrays, sizes);
- :mod:`~avsr.whisper.ct2_cache`: the converted-model cache (``registry_folder``,
  ``convert_torch``, ``cached_set``; ``COMPUTE_TYPES``);
- :mod:`~avsr.whisper.mel_numpy`, :mod:`~avsr.whisper.mel_torch`: the log-mel in NumPy and in
  torch (the same numbers) and Whisper's 30 s window;
- :mod:`~avsr.whisper.timestamps`: word times by DTW, for both engines;
- :mod:`~avsr.whisper.quantize`: int8 linear layers for the PyTorch engine on CPU;
- :mod:`~avsr.whisper.frozen`: ``NO_SET`` (the plain frozen model's name) and ``FrozenEncoder``
  (what a noise head reads, in either runtime).

Importing the package is cheap (no torch).
"""

__all__ = [
    "load",
    "decoding",
    "torch_engine",
    "ct2_engine",
    "ct2_file",
    "ct2_cache",
    "mel_numpy",
    "mel_torch",
    "timestamps",
    "quantize",
    "frozen",
]
