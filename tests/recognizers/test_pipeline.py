"""`avsr transcribe --mode vsr` and LipReader: composition of ROI, VSR and phoneme-to-text."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import CARPHONE, PYFEAT

from avsr.core.store import save_checkpoint
from avsr.recognizers.lip import LipReader
from avsr.vsr import VSRConfig, VSRModel

CLI = [sys.executable, "-m", "avsr.cli", "transcribe"]


@pytest.fixture(scope="module")
def vsr_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    m = VSRModel(VSRConfig(stem_channels=8, stage_channels=(8,), stage_blocks=(1,), dim=32, depth=1, heads=2))
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "vsr", m, "vsr", m.cfg.to_dict())


@pytest.fixture(scope="module")
def p2t_adapter(tmp_path_factory):
    """A tiny Llama saved as a local model folder, with a LoRA adapter on top of it."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "p2t"))
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from avsr.p2t.model import P2TConfig, add_lora, save_adapter

    root = tmp_path_factory.mktemp("p2t")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        ["Phonemes: AH B K | T\nText: a cat sat"] * 5, vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"]
    )
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
    )
    model.save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    cfg = P2TConfig(base=str(root / "base"), lora_r=4, lora_alpha=8, max_new_tokens=6)
    return save_adapter(add_lora(model, cfg), root / "adapter", cfg)


def test_missing_checkpoint_says_what_and_how():
    r = subprocess.run(CLI + [str(CARPHONE)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == ""
    assert "needs a VSR model (--vsr)" in r.stderr and "avsr train vsr" in r.stderr


def test_phonemes_only_and_full_pipeline(vsr_ckpt, p2t_adapter, tmp_path, media):
    out = tmp_path / "t.jsonl"
    r = subprocess.run(
        CLI
        + [
            str(CARPHONE),
            str(media.text_as_mp4),
            "--vsr",
            str(vsr_ckpt),
            "--phonemes-only",
            "--decode",
            "greedy",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1, r.stderr  # the bad input fails, the good one is transcribed
    assert "not a readable media file" in r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert (
        lines[0]["text"] is None and lines[0]["duration"] == 4.0 and lines[0]["mode"] == "vsr" and "error" in lines[1]
    )
    assert lines[0]["phonemes"] == lines[0]["segments"][0]["phonemes"]
    reader = LipReader.from_pretrained(vsr_ckpt, p2t_adapter, method="greedy")
    t = reader.transcribe(PYFEAT)
    assert isinstance(t["text"], str) and [(s["start"], s["end"]) for s in t["segments"]] == [(0.0, 2.4)]
    assert t["model"] == {"vsr": str(vsr_ckpt), "p2t": str(p2t_adapter)}
    # decoding.json in the adapter folder switches the lip reader to phoneme-consistency rescoring
    import shutil

    from avsr.p2t.rescore import DecodingConfig

    tuned = shutil.copytree(p2t_adapter, tmp_path / "tuned")
    DecodingConfig(rescore=True, channel_weight=2.0, beams=2).save(tuned)
    rescored = LipReader.from_pretrained(vsr_ckpt, tuned, method="greedy")
    assert rescored.p2t.decoding.rescore and rescored.p2t.decoding.beams == 2
    r2 = rescored.transcribe(PYFEAT)
    assert r2["segments"][0]["phonemes"] == t["segments"][0]["phonemes"] and isinstance(r2["text"], str)


def test_long_silent_video_is_read_in_segments(vsr_ckpt):
    """Silent video is lip-read in fixed segments, each extracted by seeking (flat memory); the
    crops of the segments are the crops of the whole clip."""
    import numpy as np

    import avsr
    from avsr.core.segments import SegmentConfig
    from avsr.core.video import centre_mouth
    from avsr.recognizers.prepare import Preparer
    from avsr.roi import extract

    segs = list(Preparer("vsr", segments=SegmentConfig(vsr_seconds=1.6))(0, "c", str(CARPHONE)))
    assert [(s.start, s.end, s.final, s.index) for s in segs] == [
        (0.0, 1.6, False, 0),
        (1.6, 3.2, False, 1),
        (3.2, 4.0, True, 2),
    ]
    whole = centre_mouth(extract(CARPHONE, audio=False).crops)
    joined = np.concatenate([s.crops for s in segs])
    assert joined.shape == whole.shape
    # each segment tracks the face on its own, so crops differ by the smoothing at the joins only
    assert np.abs(joined.astype(int) - whole.astype(int)).mean() < 12
    reader = LipReader(avsr.load_model(vsr_ckpt), None, method="greedy")
    res = reader.decode(segs)
    assert len(res) == 3 and all(r["text"] is None and isinstance(r["phonemes"], str) for r in res)
