"""The CTranslate2-only path (avsr.adapters.ct2_bank): NumPy log-mel and noise head equal to the PyTorch
ones, no torch / transformers / Lightning / mediapipe imported by `avsr transcribe`, and the
same routes and words as the PyTorch-backed CTranslate2 engine."""

import json
import subprocess
import sys

import numpy as np
import pytest
from avtools import FIXTURES

from avsr.core.audio import read_audio, write_wav
from avsr.core.registry import shipped
from avsr.recipes.audio import speech_records

ct2 = pytest.importorskip("ctranslate2")
VIDEO = FIXTURES / "pyfeat_single_face_640x360.mp4"


def test_numpy_log_mel_matches_torch_and_transformers():
    from transformers.audio_utils import mel_filter_bank

    from avsr.whisper import mel_numpy as mel
    from avsr.whisper import mel_torch as features

    fb = mel_filter_bank(
        num_frequency_bins=201,
        num_mel_filters=80,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=16000,
        norm="slaney",
        mel_scale="slaney",
    )
    assert np.abs(fb.T - mel.mel_filters(80)).max() < 1e-7
    rng = np.random.default_rng(0)
    batch = (rng.standard_normal((2, 16000 * 7)) * 0.1).astype(np.float32)
    assert np.abs(mel.whisper_input(batch) - features.whisper_input(batch).numpy()).max() < 1e-5
    short = batch[0, :12345]
    assert np.abs(mel.log_mel(short) - features.log_mel(short).numpy()).max() < 1e-5
    with pytest.raises(ValueError, match="30 s"):
        mel.whisper_input(np.zeros(16000 * 31, np.float32))


def test_read_ct2_skips_what_it_is_not_asked_for():
    from avsr.whisper.ct2_cache import registry_folder
    from avsr.whisper.ct2_file import model_parts, read_ct2, whisper_dims

    parts = model_parts(registry_folder("whisper-base"))
    _, full = read_ct2(parts)
    _, some = read_ct2(parts, lambda n: n.startswith("encoder/layer_0/"))
    assert whisper_dims(some) == whisper_dims(full)
    kept = [k for k in full if k.startswith("encoder/layer_0/")]
    assert kept and all(np.array_equal(some[k], full[k]) for k in kept)
    skipped = some["decoder/embeddings/weight"]
    assert skipped.shape == full["decoder/embeddings/weight"].shape and not skipped.any()
    assert skipped.strides == (0, 0)  # a view of one zero: no memory


@pytest.fixture(scope="module")
def clips():
    """Speech fixtures, and noise fixtures alone: clean and noisy inputs for the head."""
    speech = [read_audio(r["audio"]) for r in speech_records(FIXTURES / "speech")[:4]]
    noise = [read_audio(p)[: 16000 * 6] for p in sorted((FIXTURES / "noise").iterdir())[:3]]
    return speech + noise


def test_numpy_noise_head_equals_the_pytorch_head(clips):
    """The shipped head in NumPy on the CTranslate2 model file: PyTorch's frame features,
    logits and decision."""
    import torch

    from avsr.noise.head_numpy import NumpyNoiseHead
    from avsr.recognizers.checkpoints import load_checkpoint
    from avsr.whisper.ct2_cache import registry_folder
    from avsr.whisper.ct2_file import model_parts, read_ct2
    from avsr.whisper.load import load_whisper

    folder = shipped("noise-head", "whisper-base")
    _, arrays = read_ct2(model_parts(registry_folder("whisper-base")))
    mine = NumpyNoiseHead.from_checkpoint(folder, arrays)
    theirs = load_checkpoint(folder).attach(load_whisper("whisper-base")[0])
    for a in clips:
        f_np, f_pt = mine.features(a), theirs.features(a).numpy()
        assert np.abs(f_np - f_pt).max() < 1e-3 * np.abs(f_pt).max()
        logits, snr = mine.logits(f_pt)
        with torch.inference_mode():
            ref_logits, ref_snr = theirs(torch.from_numpy(f_pt)[None])
        assert np.abs(logits - ref_logits[0].numpy()).max() < 1e-4 and abs(snr - float(ref_snr[0])) < 1e-3
        d_np, d_pt = mine.predict(a), theirs.predict(a)
        assert d_np["category"] == d_pt["category"] and abs(d_np["snr"] - d_pt["snr"]) <= 0.02


def test_transcribe_imports_no_torch(tmp_path):
    """`avsr transcribe` with the shipped sets and noise head (ct2, the default on CPU): a talking-face
    video in avsr mode and a wav in asr mode, in a fresh process that never imports torch,
    transformers, Lightning or mediapipe (no set uses mouth crops, so none are cut)."""
    speech = np.concatenate([read_audio(r["audio"]) for r in speech_records(FIXTURES / "speech")[:2]])
    wav = tmp_path / "speech.wav"
    write_wav(wav, speech)
    out = tmp_path / "out.jsonl"
    code = (
        "import json, sys\n"
        "from avsr.cli import main\n"
        f"rc = main(['transcribe', {str(VIDEO)!r}, {str(wav)!r}, '-o', {str(out)!r}, '-q'])\n"
        "print(json.dumps([m for m in ('torch', 'transformers', 'lightning', 'mediapipe') if m in sys.modules]))\n"
        "sys.exit(rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == []
    recs = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    video, audio = recs[VIDEO.stem], recs["speech"]
    assert video["mode"] == "avsr" and not video.get("visual") and video["model"]["engine"] == "ct2 float32"
    assert audio["mode"] == "asr" and len(audio["text"].split()) > 5 and audio["noise"]["category"] == "clean"


@pytest.mark.slow
def test_same_routes_and_words_as_the_pytorch_backed_engine(clips):
    """CT2Bank (CTranslate2 only) and AVWhisper on CTranslate2 (PyTorch features, the PyTorch
    noise head): the same noise estimates, sets and words on clean and babble-mixed speech."""
    from avsr.data.mixing import mix
    from avsr.recognizers.audiovisual import AVRecognizer
    from avsr.recognizers.prepare import Segment
    from avsr.whisper.decoding import DecodingOptions

    adapters, head = shipped("adapter-sets", "whisper-base"), shipped("noise-head", "whisper-base")
    greedy = DecodingOptions(temperatures=(0.0,))  # the fallback's equality is tests/whisper/test_ct2.py's
    kw = dict(adapters=adapters, classifier=head, decoding=greedy)
    lite = AVRecognizer.from_pretrained("whisper-base", engine="ct2", **kw)
    full = AVRecognizer.from_pretrained("whisper-base", engine="torch", **kw)
    full.bank.use_ct2("float32")
    assert lite.modules() == {} and type(lite.bank).__name__ == "CT2Bank" and set(full.modules()) == {"av", "noise"}
    speech = clips[:4]
    rng = np.random.default_rng(1)
    talkers = [sum(np.roll(s, int(rng.integers(len(s)))) for _ in range(5)) for s in speech]
    audio = speech + [np.clip(mix(s, t, -8.0), -1, 1).astype(np.float32) for s, t in zip(speech, talkers)]
    segs = [Segment(item=i, id=str(i), source="", mode="asr", audio=a) for i, a in enumerate(audio)]
    a, b = lite.decode(segs), full.decode(segs)
    assert [r["adapter"] for r in a] == [r["adapter"] for r in b]
    assert any(r["adapter"] != "none" for r in a), [r["noise"] for r in a]  # a set was used
    assert [r["noise"]["category"] for r in a] == [r["noise"]["category"] for r in b]
    assert [r["text"] for r in a] == [r["text"] for r in b]


def test_preparer_cuts_crops_only_when_asked():
    from avsr.recognizers.prepare import Preparer

    without = list(Preparer("avsr", crops=False)(0, "v", str(VIDEO)))
    assert without[0].mode == "avsr" and all(s.crops is None for s in without)
    with_crops = list(Preparer("avsr")(0, "v", str(VIDEO)))
    assert with_crops[0].crops is not None and with_crops[0].crops.shape[1:] == (88, 88)


def speech_onset(audio: np.ndarray) -> float:
    """Seconds to the first of three 20 ms frames within 20 dB of the loudest one: where speech
    starts in a clean recording (its room noise is 25-45 dB below the speech)."""
    n = len(audio) // 320
    db = 10 * np.log10((audio[: n * 320].reshape(n, 320).astype(np.float64) ** 2).mean(1) + 1e-10)
    loud = db > db.max() - 20
    return float(np.argmax(loud[:-2] & loud[1:-1] & loud[2:]) * 0.02)


def test_word_timestamps_in_both_engines(tmp_path):
    """The same words with times from CTranslate2's alignment and from PyTorch's cross-attention
    (one word-grouping implementation), on goforward_16k.wav as it is and after 3 s of digital
    silence. The first word starts where the speech does (0.50 s, 3.50 s; within 0.1 s), not at
    the window's start, which is where the alignment path puts it (faster-whisper: 0.00 s, and
    2.78 s on the late clip after its long-word rule); the other words start within 0.1 s of
    faster-whisper's (same alignment heads) and within 0.2 s between the engines. The CLI writes
    them with --word-timestamps, and its SRT cue starts with the first word."""
    fw = pytest.importorskip("faster_whisper")
    from avsr.adapters.ct2_bank import CT2Bank
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.cli import main
    from avsr.core.padding import pad_array
    from avsr.whisper.ct2_cache import registry_folder
    from avsr.whisper.decoding import DecodingOptions
    from avsr.whisper.load import load_whisper

    speech = read_audio(FIXTURES / "goforward_16k.wav")
    late = np.concatenate([np.zeros(3 * 16000, np.float32), speech])
    rows = [speech, late]
    batch, _ = pad_array(rows)
    opts = DecodingOptions(word_timestamps=True)
    bank = CT2Bank("whisper-base")
    ct = [h.words for h in bank.decode(bank.features(batch), audio=rows, opts=opts)]
    av = AVWhisper(*load_whisper("whisper-base"), "whisper-base").eval()
    pt = [h.words for h in av.decode(av.features(batch), audio=rows, opts=opts)]
    ref = fw.WhisperModel(str(registry_folder("whisper-base")), device="cpu", compute_type="float32", cpu_threads=2)
    expected, expected_text = [" Go", " forward", " 10", " meters."], "Go forward 10 meters."
    for a, c, p in zip(rows, ct, pt):
        segs, _ = ref.transcribe(a, language="en", word_timestamps=True, condition_on_previous_text=False)
        theirs = [w for s in segs for w in s.words]
        assert [w["word"] for w in c] == [w["word"] for w in p] == [w.word for w in theirs] == expected
        onset = speech_onset(a)
        assert onset in (0.5, 3.5)
        for words in (c, p):
            assert abs(words[0]["start"] - onset) <= 0.1 and words[0]["start"] >= theirs[0].start + 0.4
            assert all(0 <= w["start"] <= w["end"] <= len(a) / 16000 for w in words)
            assert all(x["end"] <= y["start"] + 1e-9 for x, y in zip(words, words[1:]))  # in order, no overlap
            assert all(0 < w["probability"] <= 1 for w in words)
        assert max(abs(x["start"] - y.start) for x, y in zip(c[1:], theirs[1:])) <= 0.1
        assert max(abs(x["start"] - y["start"]) for x, y in zip(c, p)) <= 0.2
    out = tmp_path / "o.jsonl"
    args = ["transcribe", str(FIXTURES / "goforward_16k.wav"), "--word-timestamps", "--srt", str(tmp_path), "-q"]
    assert main(args + ["-o", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert [w["word"] for w in rec["segments"][0]["words"]] == expected
    start = rec["segments"][0]["words"][0]["start"]
    assert abs(start - ct[0][0]["start"]) <= 0.02
    cue = (tmp_path / "goforward_16k.srt").read_text().split("\n")
    assert cue[0] == "1" and cue[1].startswith(f"00:00:00,{round(start * 1000):03d} --> ") and cue[2] == expected_text
