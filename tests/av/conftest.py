"""Tiny randomly initialised Whisper models with the real tiny.en tokenizer (no download)."""

import pytest
from avtools import fixture_audio
from avtools import tiny_whisper as _tiny_whisper


@pytest.fixture
def tiny_whisper():
    """factory: (model, processor) of a 2-layer, 64-wide Whisper with tiny.en's vocabulary."""
    return _tiny_whisper


@pytest.fixture(scope="module")
def audio_data(tmp_path_factory):
    """Speech and noise manifests of the fixture recordings (data_prep/audio.py's layout)."""
    return fixture_audio(tmp_path_factory.mktemp("audio"))
