"""Datasets (floor 1): what training and evaluation read.

- :mod:`~avsr.data.crops`: the VSR crop Dataset (``CropDataset``), augmentation, CTC targets, the frame-budget sampler;
- :mod:`~avsr.data.speech`: the noisy-speech Dataset for AV training and the noise classifier (``NoisySpeech``);
- :mod:`~avsr.data.mixing`: noise sources and mixing at a given SNR (``NoiseBank``, seeded per utterance);
- :mod:`~avsr.data.phoneme_errors`: simulated phoneme errors for phoneme-to-text training.
"""

__all__ = ["crops", "speech", "mixing", "phoneme_errors"]
