"""An independent reference for the Auto-AVSR visual model, built from ESPnet (PyPI espnet==202511,
installed without its dependencies) and torchvision's ResNet-18 blocks: the modules the
published models were trained with. Tests and bench/autoavsr.py compare avsr's own
implementation (avsr.vsr.autoavsr) against it."""

from __future__ import annotations

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

    def forward(self, x):
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


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


class Reference(nn.Module):
    """state_dict() is the v1.0.0 layout with ESPnet's ``pointwise_conv`` spelling."""

    def __init__(self, d=96, heads=4, ffn=192, enc_layers=2, dec_layers=1, dec_ffn=None, vocab=VOCAB):
        super().__init__()
        from espnet.nets.pytorch_backend.conformer.encoder import Encoder
        from espnet.nets.pytorch_backend.ctc import CTC
        from espnet.nets.pytorch_backend.transformer.decoder import Decoder

        self.encoder = Encoder(
            idim=512,
            attention_dim=d,
            attention_heads=heads,
            linear_units=ffn,
            num_blocks=enc_layers,
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
        for layer in self.encoder.encoders:
            layer.feed_forward.activation = nn.ReLU()
            layer.feed_forward_macaron.activation = nn.ReLU()
        self.encoder.frontend = _Frontend()
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
        return self.eval()

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(1, 1, T, H, W) -> (1, T, d), one utterance (no padding)."""
        feats = self.encoder.frontend(video)
        mask = torch.ones(1, 1, feats.shape[1], dtype=torch.bool)
        return self.encoder(feats, mask)[0]

    def beam_search(self, enc: torch.Tensor, beam: int, ctc_weight: float):
        """ESPnet's BatchBeamSearch with the CTC prefix scorer, as Auto-AVSR decodes. enc (T, d)."""
        from espnet.nets.batch_beam_search import BatchBeamSearch
        from espnet.nets.scorers.ctc import CTCPrefixScorer

        scorers = {"decoder": self.decoder, "ctc": CTCPrefixScorer(self.ctc, self.eos)}
        weights = {"decoder": 1.0 - ctc_weight, "ctc": ctc_weight}
        bs = BatchBeamSearch(
            scorers=scorers,
            weights=weights,
            beam_size=beam,
            vocab_size=self.decoder.output_layer.out_features,
            sos=self.eos,
            eos=self.eos,
            token_list=None,
            pre_beam_score_key=None if ctc_weight == 1.0 else "full",
        )
        with torch.no_grad():
            return bs(enc, maxlenratio=0.0, minlenratio=0.0)


def peer_state_dict(ref: Reference, layout: str = "v1") -> dict[str, torch.Tensor]:
    """The reference's weights as the published files hold them (``pointwise_cov`` spelling;
    ``layout`` "v1" or "head")."""
    sd = {k.replace(".pointwise_conv", ".pointwise_cov"): v for k, v in ref.state_dict().items()}
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
