"""The VALLR authors' video-to-phoneme checkpoint in avsr: a reference network built from
transformers the way their ``Models/VALLR.py`` (MarshallT-99/VALLR at 9793489) builds it, saved in
the layouts their training can write, read by avsr; the same logits and phoneme strings."""

import pytest
import torch
from torch import nn

from avsr.core.errors import CheckpointError
from avsr.text import PHONEMES
from avsr.vsr.vallr import VALLR_VOCAB, VallrConfig, greedy, sample_frames
from avsr.vsr.vallr_files import load_vallr

AUTHORS_VOCAB = [
    "<pad>"
] + "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()


class AuthorsVALLR(nn.Module):
    """The published structure, from the transformers classes it uses (the test reference)."""

    def __init__(self, videomae_config, wav2vec_config, adapter_dim=256):
        from transformers import VideoMAEModel, Wav2Vec2ForCTC

        super().__init__()
        self.videomae = VideoMAEModel(videomae_config)
        d, a = videomae_config.hidden_size, adapter_dim
        self.downsampling = nn.Sequential(
            *[
                m
                for cin, k, s in ((d, 5, 2), (a, 3, 2), (a, 3, 2), (a, 3, 3))
                for m in (nn.Conv1d(cin, a, k, stride=s, padding=k // 2), nn.BatchNorm1d(a), nn.ReLU())
            ],
            nn.AvgPool1d(kernel_size=5, stride=8),
        )
        self.adapter = nn.Sequential(nn.Linear(a, wav2vec_config.hidden_size), nn.ReLU())
        self.wav2vec2 = Wav2Vec2ForCTC(wav2vec_config)
        self.ctc_head = self.wav2vec2.lm_head

    def forward(self, video):
        x = self.videomae(video).last_hidden_state.permute(0, 2, 1)
        x = self.downsampling(x).permute(0, 2, 1)
        return self.ctc_head(self.adapter(x))


def authors_decode(logits):
    """Their training loop's decoding: argmax, blanks and repeats of the last kept phoneme skipped."""
    out = []
    for row in logits.argmax(-1).tolist():
        seq, prev = [], None
        for i in row:
            p = AUTHORS_VOCAB[i]
            if p == "<pad>" or p == prev:
                continue
            seq.append(p)
            prev = p
        out.append(seq)
    return out


def build(small=True):
    from transformers import VideoMAEConfig, Wav2Vec2Config

    torch.manual_seed(0)
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
    model = AuthorsVALLR(vm, w2v).eval()
    with torch.no_grad():  # BatchNorm statistics as a trained model has them, not 0 / 1
        for m in model.downsampling:
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model, vm


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
