"""Word times that start when speech starts: voice activity (Silero VAD, avsr.whisper.vad) on real
speech after silence and in real noise, the word-edge rules of avsr.whisper.timestamps, and the
first word of a real utterance after 3 s of silence or noise against faster-whisper's."""

import numpy as np
import pytest
from avtools import FIXTURES

from avsr.core.audio import read_audio
from avsr.whisper.timestamps import fit_to_speech, shorten_long_words

SPEECH = FIXTURES / "speech"
UTTERANCES = [
    SPEECH / "goforward_16k.wav",
    SPEECH / "cmu_arctic" / "arctic_a0007.wav",
    SPEECH / "pocketsphinx_librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav",
]
NOISE = FIXTURES / "noise" / "musan_noise-free-sound-0043_espnet.wav"  # impulsive noise (MUSAN)


def frame_db(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // 320
    return 10 * np.log10((audio[: n * 320].reshape(n, 320).astype(np.float64) ** 2).mean(1) + 1e-10)


def speech_onset(audio: np.ndarray) -> float:
    """Seconds to the first of three 20 ms frames within 20 dB of the loudest one: where speech
    starts in a clean recording (its room noise is 25-45 dB below the speech)."""
    loud = frame_db(audio) > frame_db(audio).max() - 20
    return float(np.argmax(loud[:-2] & loud[1:-1] & loud[2:]) * 0.02)


def after(lead: str, audio: np.ndarray, snr: float = 10.0) -> np.ndarray:
    """3 s of digital silence, or of real noise that goes on under the speech at ``snr`` dB."""
    x = np.concatenate([np.zeros(3 * 16000, np.float32), audio])
    if lead == "noise":
        noise = np.resize(read_audio(NOISE), len(x))
        x = x + noise * np.sqrt(np.mean(audio**2) / np.mean(noise**2) / 10 ** (snr / 10))
    return x.astype(np.float32)


@pytest.mark.parametrize("lead", ["silence", "noise"])
def test_voice_activity_finds_the_onset_after_silence_and_in_noise(lead):
    """Silero's speech frames start within 0.1 s of the clean utterance's onset + 3 s, after
    digital silence and with impulsive noise (10 dB SNR) all along; an energy threshold (the
    alternative weighed in docs/engines.md) fires on the noise seconds early."""
    from avsr.whisper.vad import speech_frames

    for path in UTTERANCES:
        clean = read_audio(path)
        truth = 3 + speech_onset(clean)
        x = after(lead, clean)
        speech = speech_frames(x)
        assert len(speech) == -(-len(x) // 320) and not speech[: int(2.5 / 0.02)].any()
        assert abs(np.argmax(speech) * 0.02 - truth) <= 0.1
        db = frame_db(x)
        energy = np.argmax(db > np.percentile(db[db > -90], 10) + 10) * 0.02
        assert (energy < 2.5) if lead == "noise" else abs(energy - truth) <= 0.1


def test_word_edges_move_off_silence_and_long_words_are_shortened():
    """fit_to_speech cuts non-speech of 0.2 s or more off a word's edges (not shorter stretches,
    not a word with no speech at all); shorten_long_words clips a first word, a word after a
    sentence end and a sentence's last word to twice the median."""
    speech = np.zeros(100, bool)
    speech[30:40] = speech[45:60] = speech[80:90] = True
    span = np.array([[0, 40], [40, 62], [62, 75], [75, 100]])
    assert fit_to_speech(span, speech).tolist() == [[30, 40], [40, 62], [62, 75], [75, 90]]  # 0.1 s of pause: kept
    span = np.array([[0, 50], [50, 55], [55, 90], [90, 95], [95, 130]])
    texts = [" One", " two.", " Three", " four", " five."]
    short = np.array([[0, 50], [50, 55], [55, 90], [90, 95], [95, 130], [130, 135], [135, 140]])
    out = shorten_long_words(short, texts + [" six", " seven"])
    assert out[:, 0].tolist() == [40, 50, 80, 90, 95, 130, 135]  # the first word and " Three" after "two."
    assert out[4].tolist() == [95, 105]  # " five." ends a sentence: clipped to 2 x 5 frames
    assert shorten_long_words(span, texts).tolist() == span.tolist()  # median 35 frames: none is long


@pytest.mark.parametrize("lead", ["silence", "noise"])
def test_first_word_after_silence_starts_with_the_speech(lead):
    """A real utterance after 3 s of silence or of noise (10 dB SNR): avsr's first word starts
    within 0.15 s of where the speech starts; Whisper's alignment alone starts it at 0.00 and
    faster-whisper (its long-word rule) 0.3-0.8 s early, so avsr's start is never before theirs."""
    fw = pytest.importorskip("faster_whisper")
    from avsr.adapters.ct2_bank import CT2Bank
    from avsr.core.padding import pad_array
    from avsr.whisper.ct2_cache import registry_folder
    from avsr.whisper.decoding import DecodingOptions

    clean = [read_audio(p) for p in UTTERANCES[1:]]
    rows = [after(lead, a) for a in clean]
    batch, _ = pad_array(rows)
    bank = CT2Bank("whisper-base")
    hyps = bank.decode(bank.features(batch), audio=rows, opts=DecodingOptions(word_timestamps=True))
    ref = fw.WhisperModel(str(registry_folder("whisper-base")), device="cpu", compute_type="float32", cpu_threads=2)
    for a, x, h in zip(clean, rows, hyps):
        truth = 3 + speech_onset(a)
        segs, _ = ref.transcribe(x, language="en", word_timestamps=True, condition_on_previous_text=False)
        theirs = next(w for s in segs for w in s.words)
        first = h.words[0]
        assert abs(first["start"] - truth) <= 0.15 and first["start"] >= theirs.start
        assert first["start"] < first["end"] <= h.words[1]["start"]
