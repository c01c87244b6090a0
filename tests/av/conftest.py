"""Tiny randomly initialised Whisper models with the real tiny.en tokenizer (no download)."""

import pytest
from avtools import tiny_whisper as _tiny_whisper


@pytest.fixture
def tiny_whisper():
    """factory: (model, processor) of a 2-layer, 64-wide Whisper with tiny.en's vocabulary."""
    return _tiny_whisper
