"""An independent reference for the Auto-AVSR models (visual, audio, audio-visual) and the subword
Transformer LM, built from ESPnet (PyPI espnet==202511, installed without its dependencies) and
torchvision's ResNet-18 blocks: the modules the published models were trained with. The 1-D
audio ResNet is torchvision's 2-D one on a (B, 1, 1, L) input with each 3-tap kernel in the middle
row of its 3x3 kernel. Tests and bench/autoavsr.py compare avsr's own implementation
(avsr.vsr.autoavsr, avsr.vsr.lm) against it."""

from __future__ import annotations

import argparse
import logging

import torch
from torch import nn

logging.getLogger("espnet").setLevel(logging.ERROR)

VOCAB = 5049  # the published unit inventory: <blank> + 5,047 units + <eos>


class _Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18()
        for name in ("layer1", "layer2", "layer3", "layer4"):
            layer = getattr(net, name)
            for block in layer:
                block.relu = nn.SiLU()
            setattr(self, name, layer)

    def stages(self, x):
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
        return x

    def forward(self, x):
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.stages(x), 1), 1)


class _AudioTrunk(_Trunk):
    """The 1-D ResNet-18 as torchvision's 2-D one over a (B, 1, 1, L) input."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, (1, 80), (1, 4), (0, 38), bias=False)
        self.bn1 = nn.BatchNorm2d(64)

    def forward(self, x):
        x = self.stages(nn.functional.silu(self.bn1(self.conv1(x))))
        return nn.functional.avg_pool2d(x, (1, 20))

    def make_1d(self):
        """Zero the top and bottom rows of every 3x3 kernel: they only ever see padding."""
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                    m.weight[:, :, 0::2] = 0.0


class _AudioFrontend(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = _AudioTrunk()

    def forward(self, wave):  # (B, L) -> (B, L // 640, 512), as the peer trims
        n = wave.shape[1] // 640 * 640
        return self.trunk(wave[:, None, None, :n])[:, :, 0].transpose(1, 2)


class _Frontend(nn.Module):
    def __init__(self):
        super().__init__()
        self.frontend3D = nn.Sequential(
            nn.Conv3d(1, 64, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
            nn.BatchNorm3d(64),
            nn.SiLU(),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        self.trunk = _Trunk()

    def forward(self, x):  # (B, 1, T, H, W)
        b = x.shape[0]
        x = self.frontend3D(x)
        t = x.shape[2]
        x = x.transpose(1, 2).reshape(b * t, x.shape[1], x.shape[3], x.shape[4])
        return self.trunk(x).view(b, t, -1)


class _Fusion(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.bn1, self.fc2 = nn.Linear(2 * d, hidden), nn.BatchNorm1d(hidden), nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn1(self.fc1(x).transpose(1, 2)).transpose(1, 2)))


def _conformer(d, heads, ffn, layers, frontend):
    from espnet.nets.pytorch_backend.conformer.encoder import Encoder

    enc = Encoder(
        idim=512,
        attention_dim=d,
        attention_heads=heads,
        linear_units=ffn,
        num_blocks=layers,
        dropout_rate=0.0,
        positional_dropout_rate=0.0,
        attention_dropout_rate=0.0,
        input_layer=nn.Linear(512, d),
        macaron_style=True,
        pos_enc_layer_type="rel_pos",
        selfattention_layer_type="rel_selfattn",
        use_cnn_module=True,
        activation_type="swish",
        cnn_module_kernel=31,
    )
    for layer in enc.encoders:
        layer.feed_forward.activation = nn.ReLU()
        layer.feed_forward_macaron.activation = nn.ReLU()
    enc.frontend = frontend
    return enc


class Reference(nn.Module):
    """``kind`` vsr | asr | avsr; state_dict() is the v1.0.0 layout with ESPnet's ``pointwise_conv``
    spelling, 2-D audio kernels (:func:`peer_state_dict` gives the published one)."""

    def __init__(
        self, d=96, heads=4, ffn=192, enc_layers=2, dec_layers=1, dec_ffn=None, vocab=VOCAB, kind="vsr", hidden=128
    ):
        super().__init__()
        from espnet.nets.pytorch_backend.ctc import CTC
        from espnet.nets.pytorch_backend.transformer.decoder import Decoder

        self.kind = kind
        self.encoder = _conformer(d, heads, ffn, enc_layers, _AudioFrontend() if kind == "asr" else _Frontend())
        if kind == "avsr":
            self.aux_encoder = _conformer(d, heads, ffn, enc_layers, _AudioFrontend())
            self.fusion = _Fusion(d, hidden)
        self.decoder = Decoder(
            odim=vocab,
            attention_dim=d,
            attention_heads=heads,
            linear_units=dec_ffn or ffn,
            num_blocks=dec_layers,
            dropout_rate=0.0,
            positional_dropout_rate=0.0,
            self_attention_dropout_rate=0.0,
            src_attention_dropout_rate=0.0,
        )
        self.ctc = CTC(vocab, d, 0.0, reduce=True)
        self.eos = vocab - 1

    def randomise(self, seed: int = 0) -> Reference:
        """Random weights and BatchNorm statistics, at scales that keep activations sane."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if p.dim() > 1:
                    p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)
                elif "norm" in name or name.endswith(("bn1.weight", "bn2.weight", "1.weight")):
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=g))
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                    m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                if isinstance(m, _AudioTrunk):
                    m.make_1d()
        return self.eval()

    def encode(self, video: torch.Tensor | None = None, audio: torch.Tensor | None = None) -> torch.Tensor:
        """One utterance (no padding): video (1, 1, T, H, W), audio (L,) standardised -> (1, T, d)."""

        def run(encoder, x):
            feats = encoder.frontend(x)
            return encoder(feats, torch.ones(1, 1, feats.shape[1], dtype=torch.bool))[0]

        if self.kind == "asr":
            return run(self.encoder, audio[None])
        enc = run(self.encoder, video)
        if self.kind == "vsr":
            return enc
        return self.fusion(torch.cat([enc, run(self.aux_encoder, audio[None])], -1))

    def beam_search(self, enc: torch.Tensor, beam: int, ctc_weight: float, lm=None, lm_weight: float = 0.0):
        """ESPnet's BatchBeamSearch with the CTC prefix scorer (and the LM), as the published
        configurations decode (pre-beam on the decoder score). enc (T, d)."""
        from espnet.nets.batch_beam_search import BatchBeamSearch
        from espnet.nets.scorers.ctc import CTCPrefixScorer

        scorers = {"decoder": self.decoder, "ctc": CTCPrefixScorer(self.ctc, self.eos), "lm": lm}
        weights = {"decoder": 1.0 - ctc_weight, "ctc": ctc_weight, "lm": lm_weight}
        bs = BatchBeamSearch(
            scorers=scorers,
            weights=weights,
            beam_size=beam,
            vocab_size=self.decoder.output_layer.out_features,
            sos=self.eos,
            eos=self.eos,
            token_list=None,
            pre_beam_score_key=None if ctc_weight == 1.0 else "decoder",
        )
        with torch.no_grad():
            return bs(enc, maxlenratio=0.0, minlenratio=0.0)


def peer_state_dict(ref: Reference, layout: str = "v1") -> dict[str, torch.Tensor]:
    """The reference's weights as the published files hold them (``pointwise_cov`` spelling;
    ``layout`` "v1" or "head")."""
    sd = {k.replace(".pointwise_conv", ".pointwise_cov"): v for k, v in ref.state_dict().items()}
    audio = {"asr": "encoder.frontend.trunk.", "avsr": "aux_encoder.frontend.trunk."}.get(ref.kind)
    for k, v in sd.items():  # audio front-ends: 1-D kernels (the middle row of the 3x3 ones)
        if audio and k.startswith(audio) and v.dim() == 4:
            sd[k] = v[:, :, 1] if v.shape[2] == 3 else v[:, :, 0]
    if layout == "head":
        sd = {
            ("frontend." + k[len("encoder.frontend.") :])
            if k.startswith("encoder.frontend.")
            else ("proj_encoder." + k[len("encoder.embed.0.") :])
            if k.startswith("encoder.embed.0.")
            else k: v
            for k, v in sd.items()
        }
    return sd


def lm_reference(vocab=VOCAB, layers=2, d=64, heads=4, ffn=128, embed=32, pos_enc="none", seed=0):
    """ESPnet's TransformerLM (the 19.1% LM's class) with random weights, and its model.json."""
    from espnet.nets.pytorch_backend.lm.transformer import TransformerLM

    conf = {"layer": layers, "unit": ffn, "att_unit": d, "embed_unit": embed, "head": heads, "dropout_rate": 0.0}
    conf |= {"pos_enc": pos_enc, "tie_weights": False, "model_module": "transformer", "backend": "pytorch"}
    lm = TransformerLM(vocab, argparse.Namespace(**conf))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in lm.named_parameters():
            if p.dim() > 1:
                p.copy_(
                    torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5 * (3.0 if name == "embed.weight" else 1.0)
                )
            elif "norm" in name or name == "encoder.embed.1.weight":
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return lm.eval(), conf


def lm_peer_state_dict(lm) -> dict[str, torch.Tensor]:
    """The LM's weights as the published lm_en_subword/model.pth names them (norm_mha, norm_ff)."""
    return {k.replace(".norm1.", ".norm_mha.").replace(".norm2.", ".norm_ff."): v for k, v in lm.state_dict().items()}
