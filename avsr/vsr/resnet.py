"""The front-ends of the Auto-AVSR models, with SiLU ("swish") activations:

- visual (:class:`VisualFrontend`): a 3D convolution stem over time and space, then a ResNet-18
  trunk applied to every frame. Input (B, 1, T, H, W) grey frames (88x88 in the published
  models), output (B, T, 512): one vector per frame (no temporal stride: 25 fps in, 25 out);
- audio (:class:`AudioFrontend`): a 1-D ResNet-18 on the raw 16 kHz waveform: stem Conv1d
  (kernel 80, stride 4), four stages of 1-D blocks (3-tap convolutions, strides 1/2/2/2) and an
  average pool over 20 steps: one 512-d vector per 640 samples (40 ms), the video rate.

Parameter names follow torchvision's ResNet (``conv1``, ``layerN.M.conv1``, ``bn1``,
``downsample.0`` ...) so that the published state_dicts load without renaming.
"""

from __future__ import annotations

import torch
from torch import nn

AUDIO_HOP = 640  # waveform samples per audio front-end output: 16,000 / 25


class BasicBlock(nn.Module):
    """Two 3x3 (``dims`` 2) or 3-tap (``dims`` 1) convolutions with a residual connection (1x1
    projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dims: int = 2):
        super().__init__()
        conv, bn = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv1d, nn.BatchNorm1d)
        self.conv1 = conv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = bn(cout)
        self.conv2 = conv(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = bn(cout)
        self.act = nn.SiLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride, bias=False), bn(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.act(y + (x if self.downsample is None else self.downsample(x)))


class ResNetTrunk(nn.Module):
    """ResNet-18 layers 1-4 (2 blocks each) and a global average pool: (N, C, H, W) -> (N, 512)."""

    def __init__(self, cin: int = 64, widths: tuple[int, ...] = (64, 128, 256, 512), dims: int = 2):
        super().__init__()
        for i, w in enumerate(widths, 1):
            stride = 1 if i == 1 else 2
            self.add_module(f"layer{i}", nn.Sequential(BasicBlock(cin, w, stride, dims), BasicBlock(w, w, dims=dims)))
            cin = w
        self.n_layers = len(widths)
        self.out_dim = cin

    def stages(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.n_layers + 1):
            x = getattr(self, f"layer{i}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x).mean(dim=(2, 3))


class VisualFrontend(nn.Module):
    """Conv3d(1 -> ``stem``, kernel 5x7x7, stride 1x2x2) + BatchNorm + SiLU + spatial max-pool,
    then :class:`ResNetTrunk` per frame. (B, 1, T, H, W) -> (B, T, 512)."""

    def __init__(self, stem: int = 64):
        super().__init__()
        self.frontend3D = nn.Sequential(
            nn.Conv3d(1, stem, (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
            nn.BatchNorm3d(stem),
            nn.SiLU(),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        self.trunk = ResNetTrunk(stem)

    @property
    def out_dim(self) -> int:
        return self.trunk.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last layouts: ~1.4x faster convolutions on CPU (oneDNN), same numbers
        b = x.shape[0]
        x = self.frontend3D(x.contiguous(memory_format=torch.channels_last_3d))  # (B, C, T, H', W')
        t = x.shape[2]
        x = x.transpose(1, 2).reshape(b * t, x.shape[1], x.shape[3], x.shape[4])
        return self.trunk(x.contiguous(memory_format=torch.channels_last)).view(b, t, -1)


class AudioTrunk(ResNetTrunk):
    """The 1-D ResNet-18: stem (``conv1``, ``bn1``, SiLU; no max-pool), ``layer1..4`` of 1-D
    blocks, average pool of 20 steps. (B, 1, S) -> (B, 512, S // 640)."""

    def __init__(self, stem: int = 64):
        super().__init__(stem, dims=1)
        self.conv1 = nn.Conv1d(1, stem, 80, 4, 38, bias=False)
        self.bn1 = nn.BatchNorm1d(stem)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.act(self.bn1(self.conv1(x))))
        return nn.functional.avg_pool1d(x, 20, 20)


class AudioFrontend(nn.Module):
    """:class:`AudioTrunk` on a waveform standardised over its utterance: (B, S) float ->
    (B, S // 640, 512); samples past the last whole 640 are dropped (as the peer does).

    One utterance per call gives the published numbers: every layer of this trunk has temporal
    extent, so a zero-padded batch would change the last frames of the shorter items. Callers
    run it per item (:meth:`~avsr.vsr.autoavsr.AutoAVSR.encode` does)."""

    def __init__(self, stem: int = 64):
        super().__init__()
        self.trunk = AudioTrunk(stem)

    @property
    def out_dim(self) -> int:
        return self.trunk.out_dim

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        n = wave.shape[-1] // AUDIO_HOP * AUDIO_HOP
        return self.trunk(wave[:, None, :n]).transpose(1, 2)
