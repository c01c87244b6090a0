"""Whisper's decoding policy (avsr.whisper.decoding) on a scripted engine, then on the real weights:
temperature fallback on loops and improbable text, no-speech skipping, digital silence."""

import numpy as np
import pytest
from avtools import FIXTURES

from avsr.whisper.decoding import DecodingOptions, Hypothesis, compression_ratio, decode_with_fallback

LOOP = "the end " * 40
SPEECH = np.full(1600, 0.1, np.float32)


def scripted(by_temperature):
    """An engine whose text per item and temperature is given: {t: [(text, avg_logprob, no_speech)]}."""
    calls = []

    def decode(idx, t):
        calls.append((tuple(idx), t))
        return [Hypothesis([1], *by_temperature[t][i]) for i in idx]

    return decode, calls


def test_loop_falls_back_to_a_higher_temperature():
    assert compression_ratio(LOOP) > 2.4 > compression_ratio("go forward ten meters")
    decode, calls = scripted({0.0: [(LOOP, -0.2, 0.0), ("fine", -0.1, 0.0)], 0.2: [("go forward", -0.3, 0.0)] * 2})
    out = decode_with_fallback(decode, [SPEECH, SPEECH], DecodingOptions())
    assert [h.text for h in out] == ["go forward", "fine"]
    assert (out[0].temperature, out[0].fallbacks) == (0.2, 1) and out[1].temperature == 0.0
    assert calls == [((0, 1), 0.0), ((0,), 0.2)]  # only the failed item is decoded again


def test_improbable_text_falls_back_and_the_best_is_kept_when_all_fail():
    temps = (0.0, 0.5, 1.0)
    decode, calls = scripted({0.0: [(LOOP, -0.1, 0.0)], 0.5: [("a", -1.5, 0.0)], 1.0: [("b", -1.2, 0.0)]})
    (h,) = decode_with_fallback(decode, [SPEECH], DecodingOptions(temperatures=temps))
    assert len(calls) == 3
    assert h.text == "b" and h.fallbacks == 2  # the loop is excluded although its log-prob is best


def test_no_speech_gives_no_text_without_a_fallback():
    decode, calls = scripted({0.0: [("you", -1.3, 0.9), ("yes", -0.4, 0.9), ("hm", -1.3, 0.3)]})
    out = decode_with_fallback(decode, [SPEECH] * 3, DecodingOptions(temperatures=(0.0,)))
    assert [(h.text, h.skipped) for h in out] == [("", "no-speech"), ("yes", None), ("hm", None)]
    decode, calls = scripted({0.0: [("you", -1.3, 0.9)]})
    decode_with_fallback(decode, [SPEECH], DecodingOptions())
    assert len(calls) == 1  # silence is not a reason to sample


def test_digital_silence_is_not_decoded():
    decode, calls = scripted({0.0: [("you", -0.5, 0.9)] * 4})
    quiet = [np.zeros(16000, np.float32), np.full(16000, 5e-5, np.float32), np.zeros(0, np.float32)]
    quiet.append(np.tile(np.float32([4e-4, -4e-4]), 8000))  # -68 dBFS: near-silent
    out = decode_with_fallback(decode, quiet, DecodingOptions())
    assert calls == [] and all(h.text == "" and h.skipped == "silence" for h in out)
    decode, calls = scripted({0.0: [("you", -0.5, 0.9)]})
    out = decode_with_fallback(decode, [None], DecodingOptions())  # samples not at hand: decoded
    assert out[0].text == "you"


def test_thresholds_can_be_switched_off():
    opts = DecodingOptions(compression_ratio_threshold=None, logprob_threshold=None, no_speech_threshold=None)
    decode, calls = scripted({0.0: [(LOOP, -3.0, 0.99)]})
    assert decode_with_fallback(decode, [SPEECH], opts)[0].text == LOOP and len(calls) == 1
    with pytest.raises(ValueError):
        DecodingOptions(temperatures=())


@pytest.fixture(scope="module")
def base():
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.whisper.load import load_whisper

    model, proc = load_whisper("whisper-base")
    return AVWhisper(model, proc, "whisper-base").eval()


@pytest.mark.slow
def test_real_whisper_says_nothing_on_silence(base):
    """Digital silence (where the plain decode says "you") and a near-silent track (noise at
    -70 dBFS) give no text without a decode; speech is unchanged."""
    from avsr.core.audio import read_audio
    from avsr.core.padding import pad
    from avsr.whisper.torch_engine import decode_torch

    speech = read_audio(FIXTURES / "goforward_16k.wav")
    zeros = np.zeros(32000, np.float32)
    faint = (np.random.default_rng(0).standard_normal(32000) * 3e-4).astype(np.float32)
    clips = [zeros, faint, speech]
    x, _ = pad(clips)
    plain = decode_torch(
        base.whisper,
        base.processor.tokenizer,
        base.features(zeros),
        opts=DecodingOptions(temperatures=(0.0,), no_speech_threshold=None),
    )
    assert plain[0].text.strip(" .").lower() == "you"  # the defect that the policy fixes
    out = base.decode(base.features(x), audio=clips)
    assert [h.skipped for h in out] == ["silence", "silence", None]
    assert [h.text for h in out] == ["", "", "Go forward 10 meters."]
    assert out[2].no_speech_prob < 0.1
    ungated = DecodingOptions(silence_dbfs=None)  # decoded: Whisper's no-speech test on -70 dBFS noise
    (h,) = base.decode(base.features(faint), audio=[faint], opts=ungated)
    assert h.no_speech_prob > 0.6 and (h.text == "" or h.avg_logprob > -1.0)


@pytest.mark.slow
def test_real_loop_is_caught_by_the_fallback(base):
    """Half a phrase repeated 10 times: the greedy text loops (zlib ratio far above 2.4), so the
    policy samples again at higher temperatures (kept short: 24 tokens, 2 samples)."""
    from avsr.core.audio import read_audio

    speech = read_audio(FIXTURES / "goforward_16k.wav")
    x = np.tile(speech[: len(speech) // 2], 10)
    short = DecodingOptions(max_new_tokens=24, temperatures=(0.0, 0.5, 1.0), best_of=2)
    greedy = base.decode(base.features(x), audio=[x], opts=DecodingOptions(temperatures=(0.0,), max_new_tokens=24))
    assert greedy[0].compression_ratio > 2.4
    (h,) = base.decode(base.features(x), audio=[x], opts=short)
    assert h.fallbacks == 2  # sampled at 0.5 and 1.0; when every decode loops, the most probable is kept
    assert h.temperature > 0 or h.text == greedy[0].text
