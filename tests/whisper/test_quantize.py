"""Int8 dynamic quantization of Whisper's frozen linear layers, with adapter sets on top."""

from contextlib import nullcontext

import pytest
import torch
from avtools import FIXTURES, perturb_set
from torch import nn

from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
from avsr.core.audio import read_audio
from avsr.whisper.quantize import is_quantized, quantizable, quantize_int8


def _av(tiny_whisper):
    model, proc = tiny_whisper()
    av = AVWhisper(model, proc, "tiny-test").eval()
    av.add_set("music", LoraSetConfig(r=4, alpha=8))
    perturb_set(av, "music")
    return av


def _logits(av, mel, name):
    av.activate(name)
    ids = torch.tensor([[av.whisper.config.decoder_start_token_id] * 4])
    with torch.no_grad(), av.peft.disable_adapter() if name == "none" else nullcontext():
        return av.peft(input_features=mel, decoder_input_ids=ids).logits


def test_int8_replaces_the_frozen_layers_and_keeps_lora_float(tiny_whisper):
    from torch.ao.nn.quantized.dynamic import Linear as QLinear

    av = _av(tiny_whisper)
    mel = av.features(read_audio(FIXTURES / "goforward_16k.wav")[None])
    ref = {n: _logits(av, mel, n) for n in ("none", "music")}
    names = quantizable(av.whisper)
    lora = [
        n for n, m in av.whisper.named_modules() if n.split(".")[-2:-1] in (["lora_A"], ["lora_B"])
    ]  # e.g. ...q_proj.lora_A.music
    assert names and lora and not set(names) & {n for n in lora}
    assert quantize_int8(av.whisper) == len(names) and is_quantized(av.whisper)
    modules = dict(av.whisper.named_modules())
    assert all(isinstance(modules[n], QLinear) for n in names)
    assert all(type(modules[n]) is nn.Linear for n in lora)
    for name, r in ref.items():  # close to float32, and the adapter set still applies
        q = _logits(av, mel, name)
        assert (q - r).abs().max() < 0.05 * r.abs().max(), name
    assert (_logits(av, mel, "music") - _logits(av, mel, "none")).abs().max() > 0.1 * (
        ref["music"] - ref["none"]
    ).abs().max()
    assert isinstance(av.generate(mel, max_new_tokens=5)[0], str)
    assert quantize_int8(av.whisper) == 0  # nothing float is left to quantize


def test_int8_refuses_a_model_off_the_cpu(tiny_whisper):
    av = _av(tiny_whisper)
    meta = av.whisper.to("meta")
    with pytest.raises(ValueError, match="CPU only"):
        quantize_int8(meta)
