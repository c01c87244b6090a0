"""A miniature LRS3 test set prepared by the real recipe, real noise sources, and small random
models (Whisper with two adapter sets, one with fusion; a VSR model)."""

import pytest
import torch
from avtools import fixture_audio, perturb_set, tiny_whisper

N_CLIPS = 3  # clips in the miniature test set
MAX_TOKENS = 8  # a random Whisper never stops by itself


@pytest.fixture(scope="session")
def lrs3_test(tmp_path_factory):
    """OUT/test/manifest.jsonl of `prepare_lrs3` (real mediapipe crops, real speech) over 3 clips."""
    from minilrs import build_mini_lrs3

    from avsr.recipes.lrs import prepare_lrs3

    root = tmp_path_factory.mktemp("corpus") / "LRS3"
    build_mini_lrs3(root, N_CLIPS, "test")
    out = root.parent / "lrs3_roi"
    res = prepare_lrs3(root, out, splits=("test",), progress=False)
    assert not res["test"].failed, res["test"].failed
    return out / "test" / "manifest.jsonl"


@pytest.fixture(scope="session")
def noise_sources(tmp_path_factory):
    """noise_sources.jsonl as data_prep/audio.py writes it (real MUSAN noise, music, and the
    fixture speech for babble and side-speaker)."""
    return fixture_audio(tmp_path_factory.mktemp("audio")) / "noise_sources.jsonl"


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory):
    """A tiny random Whisper saved as a transformers folder (``tiny``) and ``adapters/`` with an
    audio-only set ``music`` and an audio-visual set ``babble`` (fusion), both perturbed so
    they change the output."""
    from avsr.adapters.fusion import FusionConfig
    from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig

    root = tmp_path_factory.mktemp("whisper")
    model, proc = tiny_whisper(seed=0, layers=1, max_length=MAX_TOKENS, init_std=0.5)  # text depends on the input
    model.save_pretrained(str(root / "tiny"))
    proc.save_pretrained(str(root / "tiny"))
    av = AVWhisper(model, proc, "tiny").eval()
    av.add_set("music", LoraSetConfig(r=4, alpha=8), info={"noise": {"categories": ["music"], "snr": [-5, 10]}})
    av.add_set(
        "babble",
        LoraSetConfig(r=4, alpha=8, fusion=True),
        FusionConfig(dim=32, heads=2, stem_channels=8, stage_channels=(8, 16)),
        info={"noise": {"categories": ["babble"], "snr": [-5, 10]}},
    )
    for i, name in enumerate(("music", "babble")):
        perturb_set(av, name, seed=i + 1, scale=0.5)
        av.save_set(name, root / "adapters" / name)
    return root


@pytest.fixture(scope="session")
def vsr_ckpt(tmp_path_factory):
    from avsr.core.store import save_checkpoint
    from avsr.vsr import VSRConfig, VSRModel

    torch.manual_seed(0)
    m = VSRModel(VSRConfig(stem_channels=8, stage_channels=(8,), stage_blocks=(1,), dim=32, depth=1, heads=2))
    out = tmp_path_factory.mktemp("vsr") / "ck"
    save_checkpoint(out, m, "vsr", m.cfg.to_dict())
    return out
