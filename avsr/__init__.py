"""avsr: visual and audio-visual speech recognition (lip-ROI extraction, VALLR lip reading,
adapter-based AVSR). Importing the package is cheap; submodules load their dependencies.

>>> import avsr
>>> model = avsr.load_recognizer("whisper-base")      # or load_recognizer(vsr=..., p2t=...) to read lips
>>> result = model.transcribe("talk.mp4")
>>> result.text, result.segments

Public API: :func:`load_recognizer`, :func:`load_model`, :func:`load_whisper`,
:func:`available_models`, ``__version__``. The floors of the package are listed in the README's
"Layout" section.
"""

from avsr.core.version import __version__

__all__ = ["__version__", "load_recognizer", "load_model", "load_whisper", "available_models"]


def load_recognizer(whisper: str = "whisper-base", **kwargs):
    """A recogniser with ``.transcribe(path)`` (see :func:`avsr.recognizers.load.load_recognizer`)."""
    from avsr.recognizers.load import load_recognizer as _load

    return _load(whisper, **kwargs)


def load_model(path, device="cpu"):
    """Rebuild a model from a checkpoint folder (``model.safetensors`` + ``config.json``)."""
    from avsr.recognizers.checkpoints import load_checkpoint

    return load_checkpoint(path, device=device)


def available_models() -> list[str]:
    """Names of the registered offline models (``avsr models`` shows where each comes from)."""
    from avsr.core.registry import registry

    return list(registry())


def load_whisper(source="whisper-base", device="cpu"):
    """(Whisper model, processor) from a registry name, CTranslate2 folder, openai .pt or hub id."""
    from avsr.whisper.load import load_whisper as _load

    return _load(source, device=device)
