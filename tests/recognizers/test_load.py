"""``avsr.load_recognizer(...).transcribe(path)``: the whisper-style entry point, the recogniser
protocol and the one result record."""

from __future__ import annotations

import json

import pytest
from avtools import save_tiny_whisper
from conftest import SPEECH

import avsr
from avsr.core.errors import AvsrError, MissingModelError, UsageError
from avsr.recognizers.protocol import Recognizer
from avsr.recognizers.record import Result


@pytest.fixture(scope="module")
def whisper(tmp_path_factory):
    return save_tiny_whisper(tmp_path_factory.mktemp("whisper"))


def test_load_recognizer_transcribes_to_the_result_record(whisper):
    model = avsr.load_recognizer(str(whisper))
    assert isinstance(model, Recognizer) and model.kind == "av"
    result = model.transcribe(SPEECH, mode="asr")
    assert isinstance(result, Result) and result.mode == "asr" and isinstance(result.text, str)
    line = result.to_dict()
    assert list(line)[:6] == ["id", "source", "mode", "text", "model", "duration"]
    assert (
        line["adapter"] == "none"
        and line["model"] == {"whisper": str(whisper), "engine": "ct2 float32"}
        and "phonemes" not in line
    )
    assert result["text"] == result.text and json.loads(json.dumps(line)) == line


def test_missing_models_are_avsr_errors(whisper):
    with pytest.raises(MissingModelError, match="VSR checkpoint"):
        avsr.load_recognizer(p2t="somewhere")
    with pytest.raises(UsageError, match="quantize"):
        avsr.load_recognizer(str(whisper), quantize="int4")
    with pytest.raises(AvsrError):
        avsr.load_recognizer("/no/such/whisper")
