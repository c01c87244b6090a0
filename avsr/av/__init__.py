"""Audio-visual recognition (adapter-based, multi-agent): a frozen Whisper, the pre-encoder AV
fusion, one LoRA adapter set per noise scenario, the noise classifier and the router.

- :mod:`~avsr.av.whisper`, :mod:`~avsr.av.ct2`: Whisper from a registry name, CTranslate2 folder, .pt or hub id;
- :mod:`~avsr.av.features`: log-mel features and Whisper's window;
- :mod:`~avsr.av.fusion`: ``AVFusion`` (lip front-end + cross-modal attention -> enhanced mel);
- :mod:`~avsr.av.model`: ``AVWhisper``, the adapter bank (one peft folder per set);
- :mod:`~avsr.av.classifier`: ``NoiseClassifier`` (category + SNR, from log-mel);
- :mod:`~avsr.av.whisper_classifier`: ``NoiseHead`` (category + SNR on the frozen Whisper's lower layers: the default);
- :mod:`~avsr.av.router`: noise estimate -> adapter set;
- :mod:`~avsr.av.quantize`: int8 linear layers on CPU.

Importing the package is cheap (no torch); it registers the ``noise`` and ``noise-head`` checkpoint builders with
:mod:`avsr.core.store`.
"""

from avsr.core.store import register_builder


def _build_noise_classifier(config: dict):
    from avsr.av.classifier import NoiseClassifier, NoiseClassifierConfig
    from avsr.core.configs import from_dict

    return NoiseClassifier(from_dict(NoiseClassifierConfig, config))


def _build_noise_head(config: dict):
    from avsr.av.whisper_classifier import NoiseHead, WhisperNoiseConfig
    from avsr.core.configs import from_dict

    return NoiseHead(from_dict(WhisperNoiseConfig, config))


register_builder("noise", _build_noise_classifier)
register_builder("noise-head", _build_noise_head)

__all__ = ["whisper", "ct2", "features", "fusion", "model", "classifier", "whisper_classifier", "router", "quantize"]
