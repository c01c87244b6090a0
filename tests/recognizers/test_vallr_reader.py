"""A VALLR-format checkpoint (the authors' layout, random weights, the authors' 224-pixel input
but a narrow encoder) through ``avsr transcribe --mode vsr --vsr vallr_model.pth`` on a real
face video: face crops, 16 frames, phonemes; and the messages when something is missing."""

import json

import numpy as np
import pytest
import torch
from conftest import CARPHONE
from vallr_reference import authors_decode, authors_model

import avsr
from avsr.cli import main
from avsr.core.errors import MissingModelError, UsageError
from avsr.recognizers.vallr import VallrReader, clip_tensor, is_vallr_file


@pytest.fixture(scope="module")
def vallr_pth(tmp_path_factory):
    from transformers import VideoMAEConfig, Wav2Vec2Config

    vm = VideoMAEConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256)
    w2v = Wav2Vec2Config(
        hidden_size=96, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=40
    )
    ref = authors_model(vm, w2v)
    path = tmp_path_factory.mktemp("vallr") / "vallr_model.pth"
    torch.save(ref.state_dict(), path)
    return path, ref


def test_silent_video_to_phonemes_through_the_cli(vallr_pth, tmp_path):
    path, ref = vallr_pth
    out = tmp_path / "t.jsonl"
    code = main(
        ["transcribe", "--mode", "vsr", "--vsr", str(path), "--phonemes-only", str(CARPHONE), "-o", str(out), "-q"]
    )
    assert code == 0
    (rec,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert rec["mode"] == "vsr" and rec["model"]["vsr_layout"] == "vallr" and len(rec["model"]["vsr_sha256"]) == 64
    assert rec["face_ratio"] > 0.9
    # the reader's phonemes are the reference network's on the same 16 face frames
    reader = avsr.load_recognizer(vsr=path, phonemes_only=True)
    assert isinstance(reader, VallrReader) and reader.roi.mode == "face" and reader.roi.size == 224
    from avsr.recognizers.prepare import Preparer

    (seg,) = list(Preparer("vsr", rois={"vsr": reader.roi})(0, "c", str(CARPHONE)))
    assert seg.crops.shape[1:] == (224, 224, 3) and seg.crops.dtype == np.uint8
    with torch.no_grad():
        want = authors_decode(ref(clip_tensor(seg.crops, 16, 224)[None]))
    assert reader.phonemes([seg.crops]) == want
    assert rec["phonemes"] == " ".join(want[0])


def test_frames_for_the_network():
    crops = np.arange(40, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 3), np.uint8)
    x = clip_tensor(crops, 16, 8)
    assert x.shape == (16, 3, 8, 8) and x.dtype == torch.float32
    assert x[:, 0, 0, 0].tolist() == np.linspace(0, 39, 16).astype(int).tolist()  # frames as the authors pick them
    assert clip_tensor(crops[..., 0], 16, 16).shape == (16, 3, 16, 16)  # grey repeated, resized


def test_silent_video_to_words_through_the_shipped_adapter(vallr_pth, tmp_path):
    """No --p2t: the phonemes (no word boundaries) become words through the adapter that ships,
    the bigram search placing the boundaries first; --p2t lexicon | bigram without the LLM."""
    path, ref = vallr_pth
    out = tmp_path / "t.jsonl"
    assert main(["transcribe", "--mode", "vsr", "--vsr", str(path), str(CARPHONE), "-o", str(out), "-q"]) == 0
    (rec,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert rec["model"]["p2t"] == "p2t-smollm2-135m" and rec["phonemes"]
    assert rec["text"] and rec["text"] == rec["text"].strip() and rec["segments"][0]["text"] == rec["text"]
    reader = avsr.load_recognizer(vsr=path)
    ph = rec["phonemes"].split()
    assert reader.p2t([ph], boundaries=False) == [rec["text"]]  # the reader asks for boundaries to be placed
    for method in ("lexicon", "bigram"):
        words = avsr.load_recognizer(vsr=path, p2t=method).transcribe(CARPHONE)["text"]
        assert words and all(w.isalpha() or "'" in w for w in words.split()), (method, words)


def test_missing_stage_and_options_that_do_not_apply(vallr_pth, tmp_path):
    path, _ = vallr_pth
    assert is_vallr_file(path) and not is_vallr_file(CARPHONE)
    bare = tmp_path / "adapter"
    bare.mkdir()
    with pytest.raises(MissingModelError, match="phoneme-to-text adapter folder"):
        avsr.load_recognizer(vsr=path, p2t=bare)
    with pytest.raises(UsageError, match="decodes greedily"):
        avsr.load_recognizer(vsr=path, phonemes_only=True, decode="joint")
