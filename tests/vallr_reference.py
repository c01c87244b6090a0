"""An independent reference for the VALLR authors' video-to-phoneme network (MarshallT-99/VALLR at
9793489, ``Models/VALLR.py``, version "V1"), built from the transformers classes their code uses,
and their training loop's greedy decoding. Tests compare avsr's own reader (avsr.vsr.vallr,
avsr.vsr.vallr_files, avsr.recognizers.vallr) against it."""

from __future__ import annotations

import torch
from torch import nn

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


def authors_model(videomae_config, wav2vec_config) -> AuthorsVALLR:
    """The reference network in eval mode, seeded, with BatchNorm statistics as a trained model
    has them (not 0 / 1)."""
    torch.manual_seed(0)
    model = AuthorsVALLR(videomae_config, wav2vec_config).eval()
    with torch.no_grad():
        for m in model.downsampling:
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model
