"""The CTranslate2 engine (avsr.whisper.ct2_engine): the same words as faster-whisper on the same
input, the same words as the PyTorch engine with an adapter set active, fusion through the
CTranslate2 encoder, nothing on silence, and a cache that is rebuilt when it is not whole."""

import json

import numpy as np
import pytest
import torch
from avtools import FIXTURES, perturb_set

from avsr.adapters.ct2_sets import ct2_engine
from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
from avsr.core.audio import read_audio
from avsr.recipes.audio import speech_records
from avsr.whisper.ct2_cache import MARK
from avsr.whisper.decoding import DecodingOptions

ct2 = pytest.importorskip("ctranslate2")


@pytest.fixture
def tiny_av(tiny_whisper, tmp_path, monkeypatch):
    monkeypatch.setenv("AVSR_CACHE", str(tmp_path / "cache"))
    model, proc = tiny_whisper(max_length=8, init_std=0.5)
    return AVWhisper(model, proc, "tiny").eval()


def test_set_with_fusion_matches_torch(tiny_av):
    """A LoRA set with a non-zero fusion: CTranslate2's encoder on the fused log-mel gives the
    PyTorch encoder's output (float32), the fusion changes both alike, and the words agree."""
    from avsr.adapters.fusion import FusionConfig

    av = tiny_av
    av.add_set(
        "babble", LoraSetConfig(r=4), fusion=FusionConfig(dim=32, heads=2, stem_channels=8, stage_channels=(8, 16))
    )
    perturb_set(av, "babble", scale=0.3)
    eng = ct2_engine(av, "float32")
    rng = np.random.default_rng(0)
    audio = [(rng.standard_normal(16000 * s) * 0.1).astype(np.float32) for s in (2, 3)]
    mel = av.features(np.stack([np.pad(a, (0, 48000 - len(a))) for a in audio]))
    crops = torch.from_numpy(rng.integers(0, 255, (2, 75, 88, 88), dtype=np.uint8))
    frames = torch.tensor([50, 75])
    av.activate("babble")
    with torch.inference_mode():
        fused = av.encoder_input(mel, crops, frames)
        mine = av.whisper.model.encoder(fused).last_hidden_state.numpy()
        plain = av.whisper.model.encoder(mel).last_hidden_state.numpy()
    theirs = np.array(eng.encode("babble", fused.numpy()))
    theirs_plain = np.array(eng.encode("babble", mel.numpy()))
    scale = np.abs(mine).max()
    assert np.abs(theirs - mine).max() < 1e-3 * scale and np.abs(theirs_plain - plain).max() < 1e-3 * scale
    assert np.abs(mine - plain).max() > 1e-2 * scale  # the fusion's correction is there, in both
    opts = DecodingOptions(temperatures=(0.0,))
    assert [h.text for h in eng.decode("babble", fused.numpy(), audio, opts)] == [
        h.text for h in av.decode(mel, crops, frames, audio, opts)
    ]


def test_cache_is_rebuilt_when_not_whole(tiny_av):
    av = tiny_av
    av.add_set("music", LoraSetConfig(r=4))
    perturb_set(av, "music")
    eng = ct2_engine(av, "float32")
    folder = eng.folder("music")
    assert json.loads((folder / MARK).read_text())["key"]["set"] == eng.folder.set_hash("music")
    assert eng.folder("none") != folder
    model_bin = folder / "model.bin"
    good = model_bin.read_bytes()
    model_bin.write_bytes(good[: len(good) // 2])  # an interrupted copy
    assert ct2_engine(av, "float32").folder("music") == folder and model_bin.read_bytes() == good
    (folder / MARK).unlink()  # a conversion that never finished
    fresh = ct2_engine(av, "float32")
    assert fresh.folder("music") == folder and (folder / MARK).is_file()
    x = av.features(np.zeros(16000, np.float32) + 0.01)
    assert isinstance(fresh.decode("music", x.numpy(), opts=DecodingOptions(temperatures=(0.0,)))[0].text, str)


@pytest.fixture(scope="module")
def base():
    from avsr.whisper.load import load_whisper

    model, proc = load_whisper("whisper-base")
    av = AVWhisper(model, proc, "whisper-base").eval()
    av.load_set(FIXTURES.parent.parent / "checkpoints" / "whisper-base" / "adapters" / "babble")
    av.activate(None)
    return av


@pytest.fixture(scope="module")
def base_ct2(base, tmp_path_factory):
    return ct2_engine(base, "float32", cache=tmp_path_factory.mktemp("ct2"))


@pytest.mark.slow
@pytest.mark.parametrize("beam", [1, 5])
def test_words_equal_faster_whisper(base_ct2, beam):
    """faster-whisper's own features (its feature extractor, its padding) through our engine and
    decoding policy give faster-whisper's words on every speech fixture (float32, same weights)."""
    fw = pytest.importorskip("faster_whisper")
    from faster_whisper.audio import pad_or_trim

    ref = fw.WhisperModel(str(base_ct2.folder("none")), device="cpu", compute_type="float32", cpu_threads=2)
    recs = speech_records(FIXTURES / "speech")[:: 1 if beam == 1 else 3]  # beam 5: every third
    for r in recs:
        a = read_audio(r["audio"])
        feats = ref.feature_extractor(a)
        x = pad_or_trim(feats[:, : feats.shape[-1] - 1])[None]
        ours = base_ct2.decode("none", x, [a], DecodingOptions(beam_size=beam))[0].text
        segs, _ = ref.transcribe(
            a,
            beam_size=beam,
            without_timestamps=True,
            condition_on_previous_text=False,
            language="en",
            vad_filter=False,
        )
        assert ours == " ".join(" ".join(s.text for s in segs).split()), r["id"]


@pytest.mark.slow
def test_set_active_same_words_as_torch_and_silence_in_both(base, base_ct2):
    """The shipped babble set: the same words from both engines on half the speech fixtures mixed
    with babble at 5 dB, in one batch; digital silence and a near-silent track give no text in both."""
    from avsr.core.padding import pad

    recs = speech_records(FIXTURES / "speech")[::2]
    rng = np.random.default_rng(0)
    clips = []
    for r in recs:
        a = read_audio(r["audio"])
        talk = sum(np.roll(a, int(rng.integers(len(a)))) for _ in range(4)) / 4
        clips.append((a + 0.56 * talk).astype(np.float32))
    zeros = np.zeros(32000, np.float32)
    faint = (rng.standard_normal(32000) * 3e-4).astype(np.float32)
    opts = DecodingOptions(temperatures=(0.0,))
    for name in ("babble", "none"):
        base.activate(name)
        x, _ = pad(clips)
        mel = base.features(x)
        torch_words = [h.text for h in base.decode(mel, audio=clips, opts=opts)]
        assert [h.text for h in base_ct2.decode(name, mel.numpy(), clips, opts)] == torch_words
        x, _ = pad([zeros, faint])
        mel = base.features(x)
        quiet = [base.decode(mel, audio=[zeros, faint]), base_ct2.decode(name, mel.numpy(), [zeros, faint])]
        assert all([(h.text, h.skipped) for h in hyps] == [("", "silence")] * 2 for hyps in quiet)
    base.activate(None)
