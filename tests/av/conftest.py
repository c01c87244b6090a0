"""Tiny randomly initialised Whisper models with the real tiny.en tokenizer (no download)."""
import pytest
import torch
from avtools import tiny_en_folder


@pytest.fixture
def tiny_whisper():
    """factory: (model, processor) of a 2-layer, 64-wide Whisper with tiny.en's vocabulary."""
    from avsr.av.whisper import _assemble, build_tokenizer

    def make(seed: int = 0):
        from transformers import WhisperConfig, WhisperForConditionalGeneration

        torch.manual_seed(seed)
        tok = build_tokenizer(tiny_en_folder() / "tokenizer.json")
        dims = dict(vocab_size=51864, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                    encoder_ffn_dim=256, decoder_ffn_dim=256, num_mel_bins=80, max_source_positions=1500, max_target_positions=448)
        state = WhisperForConditionalGeneration(WhisperConfig(**dims)).state_dict()
        return _assemble(state, dims, tok)

    return make
