"""Int8 inference on CPU: dynamic quantization of Whisper's linear layers.

Weights are stored as int8 with one scale per output channel; activations are quantized on the
fly per batch, and the matrix products run in int8 (x86 VNNI / fbgemm kernels). This is the
CPU setting faster-whisper users know as ``compute_type="int8"``. On the 2-core machine of the
README a Whisper-base-sized MLP ran 2.3x faster than in float32 (a one-off check); the convolutional
front end, attention products, layer norms and embeddings stay float32.

Only frozen layers are quantized: LoRA matrices (``lora_A``/``lora_B``) stay float, so every
adapter set still switches and applies exactly as before, on top of the quantized base layer.
Load every adapter set first: peft cannot wrap a layer that is already quantized. It is for
inference only (no gradients flow through quantized layers) and runs on CPU only.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

QUANTIZE = ("int8",)  # the choices of --quantize
_LORA = ("lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B", "lora_magnitude_vector")


def quantizable(model: nn.Module) -> list[str]:
    """Qualified names of the float ``nn.Linear`` layers outside any LoRA matrix."""
    from torch import nn

    return [n for n, m in model.named_modules() if type(m) is nn.Linear and not any(p in n.split(".") for p in _LORA)]


def quantize_int8(model: nn.Module) -> int:
    """Replace, in place, the model's linear layers (see :func:`quantizable`) by int8 dynamic
    ones; returns how many. The model must be on the CPU and in eval mode."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 quantization runs on CPU only: load the model with device='cpu'")
    names = quantizable(model)
    if names:
        with warnings.catch_warnings():  # torch.ao's quantized tensors warn of their future removal; torch is pinned
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            quantize_dynamic(model, {n: per_channel_dynamic_qconfig for n in names}, inplace=True)
    return len(names)


def is_quantized(model: nn.Module) -> bool:
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    return any(isinstance(m, QLinear) for m in model.modules())
