"""avsr: visual and audio-visual speech recognition (lip-ROI extraction, VALLR lip reading,
adapter-based AVSR). Importing the package is cheap; submodules load their dependencies.

>>> import avsr
>>> model = avsr.load_model("runs/vsr-small/final")   # any checkpoint folder avsr wrote
"""

__version__ = "0.1.0"


def load_model(path, device="cpu"):
    """Rebuild a model from a checkpoint folder (``model.safetensors`` + ``config.json``)."""
    from avsr.checkpoints import load_model as _load

    return _load(path, device=device)


def available_models() -> list[str]:
    """Names of the registered offline models (``avsr models`` shows where each comes from)."""
    from avsr.registry import registry

    return list(registry())


def load_whisper(source="whisper-base", device="cpu"):
    """(Whisper model, processor) from a registry name, CTranslate2 folder, openai .pt or hub id."""
    from avsr.av.whisper import load_whisper as _load

    return _load(source, device=device)
