"""Helpers for the audio-visual tests (importable: ``tests`` is on the path)."""
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def tiny_en_folder() -> Path:
    """The CTranslate2 folder of the registry's Whisper tiny.en (its tokenizer.json is real)."""
    from avsr.registry import registered_files

    return registered_files("whisper-tiny.en")[0].parent
