"""Where does the first word start? Six fixture utterances after 3 s of digital silence, and with
three real noises under the whole clip at 20, 10 and 5 dB SNR: the error, against the clean
recording's speech onset, of an energy onset, of Silero VAD's onset (avsr.whisper.vad), of the
first word of the alignment path alone (avsr before voice activity), of faster-whisper's and of
avsr's (whisper-base on ct2). The table of docs/engines.md#word-timestamps.

    python bench/word_onsets.py          # ~5 min on 2 cores; needs faster-whisper (the test extra)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
UTTERANCES = [
    "goforward_16k.wav",
    "speech/cmu_arctic/arctic_a0007.wav",
    "speech/cmu_arctic/arctic_a0009.wav",
    "speech/pocketsphinx_librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
    "speech/something_16k.wav",
    "speech/pocketsphinx_cards/001.wav",
]
NOISES = {
    "ambience": "noise/ambience_train_SDLx_freesound259988.ogg",
    "music": "noise/music_Kevin_MacLeod_Vibe_Ace_CC-BY-3.0.ogg",
    "musan": "noise/musan_noise-free-sound-0043_espnet.wav",
}
COLUMNS = ["energy onset", "Silero onset", "first word, path alone", "first word, faster-whisper", "first word, avsr"]


def frame_db(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // 320
    return 10 * np.log10((audio[: n * 320].reshape(n, 320).astype(np.float64) ** 2).mean(1) + 1e-10)


def clean_onset(audio: np.ndarray) -> float:
    """The first of three 20 ms frames within 20 dB of the loudest (a clean recording's onset)."""
    loud = frame_db(audio) > frame_db(audio).max() - 20
    return float(np.argmax(loud[:-2] & loud[1:-1] & loud[2:]) * 0.02)


def energy_onset(audio: np.ndarray) -> float:
    """The first 20 ms frame 10 dB above the 10th-percentile level of the non-silent frames."""
    db = frame_db(audio)
    return float(np.argmax(db > np.percentile(db[db > -90], 10) + 10) * 0.02)


def path_alone(words, token_index, frame_index, *a, **kw):
    """The first word's start as the alignment path gives it (avsr.whisper.timestamps before voice activity)."""
    return [{"start": float(frame_index[0]) * 0.02}]


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    import faster_whisper

    import avsr.whisper.timestamps as ts
    from avsr.adapters.ct2_bank import CT2Bank
    from avsr.core.audio import read_audio
    from avsr.whisper.ct2_cache import registry_folder
    from avsr.whisper.decoding import DecodingOptions
    from avsr.whisper.vad import speech_frames

    bank = CT2Bank("whisper-base")
    ref = faster_whisper.WhisperModel(
        str(registry_folder("whisper-base")), device="cpu", compute_type="float32", cpu_threads=2
    )
    opts = DecodingOptions(word_timestamps=True)
    rng = np.random.default_rng(0)
    rows: dict[str, list[list[float]]] = {"silence": [], "noise": []}
    for name, noise_file in [("silence", None)] + list(NOISES.items()):
        noise = read_audio(FIX / noise_file) if noise_file else None
        for snr in [None] if noise is None else [20, 10, 5]:
            for utt in UTTERANCES:
                u = read_audio(FIX / utt)
                x = np.concatenate([np.zeros(3 * 16000, np.float32), u])
                if noise is not None:
                    start = rng.integers(0, max(1, len(noise) - len(x)))
                    nz = np.resize(noise, len(x)) if len(noise) < len(x) else noise[start : start + len(x)]
                    x = (x + nz * np.sqrt(np.mean(u**2) / np.mean(nz**2) / 10 ** (snr / 10))).astype(np.float32)
                truth = 3 + clean_onset(u)
                speech = speech_frames(x)
                avsr = bank.decode(bank.features(x[None]), audio=[x], opts=opts)[0].words[0]["start"]
                with mock.patch.object(ts, "words_from_path", path_alone):
                    alone = bank.decode(bank.features(x[None]), audio=[x], opts=opts)[0].words[0]["start"]
                segs, _ = ref.transcribe(x, language="en", word_timestamps=True, condition_on_previous_text=False)
                theirs = next(w for s in segs for w in s.words).start
                silero = np.argmax(speech) * 0.02 if speech.any() else np.nan
                err = [energy_onset(x) - truth, silero - truth, alone - truth, theirs - truth, avsr - truth]
                rows["silence" if noise is None else "noise"].append(err)
                print(name, snr, Path(utt).name, " ".join(f"{e:+.2f}" for e in err), flush=True)
    print("\n| onset or first-word start | after silence: median error, within 0.1 s | in noise: ..., worst |")
    print("| --- | --- | --- |")
    for j, col in enumerate(COLUMNS):
        s, n = (np.abs(np.array(rows[k])[:, j]) for k in ("silence", "noise"))
        print(
            f"| {col} | {np.nanmedian(s):.2f} s, {(s <= 0.1).sum()}/{len(s)} "
            f"| {np.nanmedian(n):.2f} s, {(n <= 0.1).sum()}/{len(n)}, {np.nanmax(n):.2f} s |"
        )


if __name__ == "__main__":
    main()
