"""Helpers for the audio-visual tests (importable: ``tests`` is on the path)."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def tiny_en_folder() -> Path:
    """The CTranslate2 folder of the registry's Whisper tiny.en (its tokenizer.json is real)."""
    from avsr.core.registry import registered_files

    return registered_files("whisper-tiny.en")[0].parent


def save_tiny_whisper(root: Path, seed: int = 0, max_length: int = 6) -> Path:
    """A 1-layer, 64-wide random Whisper with tiny.en's real tokenizer, saved as a transformers
    folder ``ROOT/tiny``; generation stops after ``max_length`` tokens (a random model never
    stops by itself)."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from avsr.whisper.load import _assemble, build_tokenizer

    torch.manual_seed(seed)
    dims = dict(
        vocab_size=51864,
        d_model=64,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=256,
        decoder_ffn_dim=256,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=448,
    )
    model, proc = _assemble(
        WhisperForConditionalGeneration(WhisperConfig(**dims)).state_dict(),
        dims,
        build_tokenizer(tiny_en_folder() / "tokenizer.json"),
    )
    model.generation_config.max_length = max_length
    model.save_pretrained(str(root / "tiny"))
    proc.save_pretrained(str(root / "tiny"))
    return root / "tiny"


def tiny_whisper(seed: int = 0, layers: int = 2, max_length: int | None = None, init_std: float = 0.02):
    """(model, processor) of a random 64-wide Whisper with ``layers`` encoder and decoder layers
    and the real tiny.en tokenizer (no download). ``max_length`` caps generation (a random model
    never stops by itself); ``init_std`` 0.5 instead of Whisper's 0.02 makes the random model's
    text depend on its input (at 0.02 it writes the same tokens for every clip)."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from avsr.whisper.load import _assemble, build_tokenizer

    torch.manual_seed(seed)
    tok = build_tokenizer(tiny_en_folder() / "tokenizer.json")
    dims = dict(
        vocab_size=51864,
        d_model=64,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=256,
        decoder_ffn_dim=256,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=448,
        init_std=init_std,
    )
    model, proc = _assemble(WhisperForConditionalGeneration(WhisperConfig(**dims)).state_dict(), dims, tok)
    if max_length:
        model.generation_config.max_length = max_length
    return model, proc


def perturb_set(av, name: str, seed: int = 1, scale: float = 0.05) -> None:
    """Give adapter set ``name`` (LoRA B, fusion output layer) random non-zero weights, so that it
    changes the output the way a trained set would."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in av.named_parameters():
            if (f".{name}." in n and "lora_B" in n) or n.startswith(f"fusions.{name}.out"):
                p.add_(scale * torch.randn(p.shape, generator=g))


def fixture_audio(out: Path) -> Path:
    """``out`` with the speech and noise manifests of the fixture recordings, as data_prep/audio.py
    writes them (real MUSAN noise and ambience, music; the fixture speech for babble and side
    speakers)."""
    from avsr.recipes.audio import prepare_audio

    n = FIXTURES / "noise"
    noise = {"noise": sorted(n.glob("musan*")) + sorted(n.glob("ambience*")), "music": sorted(n.glob("music*"))}
    prepare_audio(FIXTURES / "speech", noise, out)
    return out
