"""The VALLR authors' video-to-phoneme checkpoint in avsr: the reference network
(tests/vallr_reference.py) saved in the layouts their training can write, read by avsr; the
same logits and phoneme strings."""

import pytest
import torch
from vallr_reference import AUTHORS_VOCAB, authors_decode, authors_model

from avsr.core.errors import CheckpointError
from avsr.text import PHONEMES
from avsr.vsr.vallr import VALLR_VOCAB, VallrConfig, greedy, sample_frames
from avsr.vsr.vallr_files import load_vallr


def build(small=True):
    from transformers import VideoMAEConfig, Wav2Vec2Config

    if small:
        vm = VideoMAEConfig(
            image_size=64, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256
        )
        w2v = Wav2Vec2Config(
            hidden_size=96, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=40
        )
    else:
        vm, w2v = VideoMAEConfig(), Wav2Vec2Config()
        w2v.vocab_size = len(AUTHORS_VOCAB)
    return authors_model(vm, w2v), vm


def test_vocabulary_is_the_authors_and_avsr_inventory():
    assert list(VALLR_VOCAB) == AUTHORS_VOCAB
    assert list(VALLR_VOCAB[1:]) == list(PHONEMES)


@pytest.mark.parametrize("layout", ["bare", "state_dict", "model_state_dict", "module", "transformers4"])
def test_authors_layouts_load_and_give_the_same_logits_and_phonemes(tmp_path, layout):
    ref, vm = build()
    sd = ref.state_dict()
    obj = {
        "bare": sd,
        "state_dict": {"state_dict": sd, "epoch": torch.tensor(3)},
        "model_state_dict": {"model_state_dict": sd, "optimizer_state_dict": {}},
        "module": {"module." + k: v for k, v in sd.items()},
        # transformers 4.44 (their pin) names VideoMAE's attention biases q_bias / v_bias
        "transformers4": {k.replace("query.bias", "q_bias").replace("value.bias", "v_bias"): v for k, v in sd.items()},
    }[layout]
    assert layout != "transformers4" or any(k.endswith(".q_bias") for k in obj)
    path = tmp_path / "vallr_model.pth"
    torch.save(obj, path)
    model, info = load_vallr(path, image_size=vm.image_size)
    assert info["config"]["hidden"] == 128 and info["config"]["layers"] == 2 and info["config"]["ctc_dim"] == 96
    assert len(info["sha256"]) == 64
    video = torch.rand(2, 16, 3, 64, 64) * 255  # raw pixel values, as their inference feeds them
    with torch.no_grad():
        want, got = ref(video), model(video)
    assert got.shape == want.shape == (2, model.cfg.steps(), 40)
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    assert greedy(got) == authors_decode(want)


def test_pickled_module_and_other_models_are_refused_clearly(tmp_path):
    ref, _ = build()
    whole = tmp_path / "whole.pth"
    torch.save(ref.downsampling, whole)  # a pickled module (torch.save(model)): never unpickled by avsr
    with pytest.raises(CheckpointError, match="more than tensors.*state_dict"):
        load_vallr(whole)
    other = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(CheckpointError, match="not a VALLR checkpoint"):
        load_vallr(other)
    sd = ref.state_dict()
    sd.pop("downsampling.4.weight")
    torch.save(sd, other)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_vallr(other, image_size=64)


def test_frames_are_sampled_as_the_authors_sample_them():
    import numpy as np

    for n in (16, 17, 40, 75, 151):
        assert sample_frames(n) == np.linspace(0, n - 1, 16).astype(int).tolist()
    assert VallrConfig().steps() == 8  # 1,568 tokens -> 8 CTC steps for a 16-frame clip


@pytest.mark.slow
def test_the_published_size_network(tmp_path):
    """The default configuration their main.py builds (182 M parameters with the unused Wav2Vec2):
    the file avsr reads is theirs in size and names."""
    ref, _ = build(small=False)
    sd = ref.state_dict()
    assert sum(v.numel() for k, v in sd.items() if "num_batches" not in k) > 180e6
    path = tmp_path / "vallr_model.pth"
    torch.save(sd, path)
    del sd
    model, info = load_vallr(path)
    assert info["config"] == VallrConfig().to_dict()
    video = torch.rand(1, 16, 3, 224, 224) * 255
    with torch.no_grad():
        want, got = ref(video), model(video)
    assert got.shape == (1, 8, 40) and torch.allclose(got, want, atol=1e-4)
    assert greedy(got) == authors_decode(want)
