"""Fusion + adapter bank: identity at initialisation, switching, save/load, refusals."""

import json

import numpy as np
import pytest
import torch
from avtools import FIXTURES, perturb_set

from avsr.adapters.fusion import AVFusion, FusionConfig
from avsr.adapters.sets import AdapterError, list_sets
from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
from avsr.core.audio import read_audio

SMALL_FUSION = FusionConfig(dim=32, heads=2, stem_channels=8, stage_channels=(8, 16))


def _inputs(seconds=2.0):
    a = read_audio(FIXTURES / "goforward_16k.wav")[: int(seconds * 16000)]
    crops = torch.randint(0, 255, (1, int(seconds * 25), 88, 88), dtype=torch.uint8)
    return a, crops


def _labels(av):
    ids = av.processor.tokenizer(" go forward", add_special_tokens=True)["input_ids"]
    return torch.tensor([ids[1:]])  # without the start token (the model adds it)


def _perturb(av, name, seed=1):
    perturb_set(av, name, seed)


def test_fusion_is_identity_at_init_and_ignores_frames_without_video():
    torch.manual_seed(0)
    f = AVFusion(SMALL_FUSION).eval()
    mel = torch.randn(2, 80, 400)
    crops = torch.randint(0, 255, (2, 100, 88, 88), dtype=torch.uint8)
    assert torch.equal(f(mel, crops, torch.tensor([100, 60])), mel)
    with torch.no_grad():
        f.out.weight.normal_()
        out = f(mel, crops, torch.tensor([100, 0]))
    assert not torch.equal(out[0], mel[0]) and torch.equal(out[1], mel[1])  # row 2 has no video
    out = f(mel, crops, torch.tensor([50, 50]))
    assert torch.equal(out[:, :, 50 * 4 :], mel[:, :, 50 * 4 :])  # mel frames past the video end


def test_empty_sets_equal_plain_whisper_and_switching_restores(tiny_whisper):
    model, proc = tiny_whisper()
    av = AVWhisper(model, proc, "tiny-test").eval()
    a, crops = _inputs()
    mel = av.features(a)
    labels = _labels(av)
    with torch.no_grad():
        plain = av(mel, labels).item()
        plain_text = av.generate(mel, max_new_tokens=5)
        av.add_set("babble", LoraSetConfig(r=4, alpha=8, fusion=True), SMALL_FUSION)
        av.add_set("music", LoraSetConfig(r=4, alpha=8))
        for name in ("babble", "music", "none"):
            av.activate(name)
            assert av(mel, labels, crops).item() == plain, name
        assert av.generate(mel, crops, max_new_tokens=5) == plain_text
        _perturb(av, "babble")
        av.activate("babble")
        changed = av(mel, labels, crops).item()
        assert changed != plain
        av.activate("music")
        assert av(mel, labels, crops).item() == plain
        av.activate("none")
        assert av(mel, labels, crops).item() == plain
        av.activate("babble")
        assert av(mel, labels, crops).item() == changed
    share = av.trainable_parameters("babble") / av.full_parameters()
    assert 0 < share < 0.5
    with pytest.raises(AdapterError, match="no adapter set 'opera'"):
        av.activate("opera")


def test_save_load_identical_and_refusals(tiny_whisper, tmp_path):
    model, proc = tiny_whisper()
    av = AVWhisper(model, proc, "tiny-test").eval()
    av.add_set(
        "babble",
        LoraSetConfig(r=4, alpha=8, fusion=True),
        SMALL_FUSION,
        {"noise": {"categories": ["babble"], "snr": [-5, 20]}},
    )
    _perturb(av, "babble")
    a, crops = _inputs()
    mel, labels = av.features(a), _labels(av)
    with torch.no_grad():
        ref = av(mel, labels, crops).item()
    folder = av.save_set("babble", tmp_path / "adapters" / "babble")
    names = {p.name for p in folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "fusion.safetensors", "avsr_adapter.json"} <= names
    meta = json.loads((folder / "avsr_adapter.json").read_text())
    assert meta["modality"] == "audio-visual" and meta["trainable_parameters"] == av.trainable_parameters("babble")

    model2, proc2 = tiny_whisper()
    av2 = AVWhisper(model2, proc2, "tiny-test").eval()
    assert av2.load_set(folder) == "babble"
    with torch.no_grad():
        assert av2(mel, labels, crops).item() == ref
    assert [n for n, _ in list_sets(tmp_path / "adapters")] == ["babble"]

    (tmp_path / "junk").mkdir()
    with pytest.raises(AdapterError, match="not an avsr adapter set"):
        av2.load_set(tmp_path / "junk")
    other = json.loads((folder / "avsr_adapter.json").read_text())
    other["whisper"] = {
        "name": "whisper-base",
        "d_model": 512,
        "encoder_layers": 6,
        "decoder_layers": 6,
        "vocab_size": 51865,
        "num_mel_bins": 80,
    }
    (folder / "avsr_adapter.json").write_text(json.dumps(other))
    model3, proc3 = tiny_whisper()
    with pytest.raises(AdapterError, match="made for Whisper whisper-base"):
        AVWhisper(model3, proc3, "tiny-test").load_set(folder)


def test_long_audio_is_cut_at_pauses_like_the_batch_command(tiny_whisper):
    from avsr.core.segments import split_audio
    from avsr.evaluation.decoding import utterance_texts
    from avsr.recognizers.audiovisual import AVRecognizer
    from avsr.whisper.decoding import Hypothesis

    model, proc = tiny_whisper()
    av = AVWhisper(model, proc)
    av.add_set("av", LoraSetConfig(r=4, alpha=8, fusion=True), SMALL_FUSION)  # crops go to its fusion
    rec = AVRecognizer(av, batch_size=1)  # one call per piece
    a = np.resize(read_audio(FIXTURES / "goforward_16k.wav"), 61 * 16000)
    crops = np.arange(61 * 25, dtype=np.uint8)[:, None, None] * np.ones((1, 88, 88), np.uint8)
    calls = []
    av.decode = lambda mel, c=None, v=None, audio=None, opts=None: (
        calls.append((mel.shape, c, v)) or [Hypothesis(tokens=[], text="x") for _ in audio]
    )
    texts, _ = utterance_texts(rec, [a], [crops], "av")
    assert texts == ["x x x"] and len(calls) == 3
    pieces = list(split_audio([a]))
    assert len(pieces) == 3 and pieces[1][0] != 30 * 16000  # cut in a pause, not at 30 s
    for (start, seg), (_, c, v) in zip(pieces, calls):  # each piece gets the crops of its own time range
        assert c[0, 0, 0, 0] == (start // 640) % 256 and int(v[0]) == c.shape[1] == -(-len(seg) // 640)
    texts, _ = utterance_texts(rec, [np.zeros(0, np.float32)], None, "av")
    assert texts == [""] and len(calls) == 3  # nothing to transcribe: no call
