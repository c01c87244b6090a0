"""Whisper loading: CTranslate2 files, openai-whisper checkpoints, the registry's real weights."""

import re
import struct

import numpy as np
import pytest
import torch
from avtools import FIXTURES, tiny_en_folder

from avsr.core.audio import read_audio
from avsr.whisper.ct2_file import CT2FormatError, read_ct2, whisper_state_dict
from avsr.whisper.load import WhisperLoadError, from_ct2, from_openai, load_whisper
from avsr.whisper.mel_torch import log_mel, whisper_input


def _logits(model, mel):
    ids = torch.tensor([[model.config.decoder_start_token_id, 50362, 464, 3797]])
    with torch.no_grad():
        return model(input_features=mel, decoder_input_ids=ids).logits


def test_ct2_round_trip_is_exact(tiny_whisper, tmp_path):
    """CTranslate2's own converter writes the tiny model; reading it back gives the same tensors
    and the same logits."""
    ct2 = pytest.importorskip("ctranslate2")
    from ctranslate2.converters import TransformersConverter

    model, proc = tiny_whisper()
    hf = tmp_path / "hf"
    model.save_pretrained(str(hf))
    proc.save_pretrained(str(hf))
    out = tmp_path / "ct2"
    TransformersConverter(str(hf)).convert(str(out), quantization="float32")
    assert ct2 is not None and (out / "model.bin").is_file()
    _, arrays = read_ct2(out / "model.bin")
    state = whisper_state_dict(arrays)
    ref = model.state_dict()
    for k, v in state.items():
        assert torch.equal(v, ref[k]), k
    (out / "tokenizer.json").write_bytes((tiny_en_folder() / "tokenizer.json").read_bytes())
    loaded, _ = from_ct2(out)
    mel = torch.randn(1, 80, 3000)
    assert torch.equal(_logits(loaded, mel), _logits(model, mel))


def test_ct2_split_parts_and_truncation(tiny_whisper, tmp_path):
    pytest.importorskip("ctranslate2")
    from ctranslate2.converters import TransformersConverter

    model, proc = tiny_whisper()
    model.save_pretrained(str(tmp_path / "hf"))
    proc.save_pretrained(str(tmp_path / "hf"))
    TransformersConverter(str(tmp_path / "hf")).convert(str(tmp_path / "ct2"), quantization="float16")
    blob = (tmp_path / "ct2" / "model.bin").read_bytes()
    (tmp_path / "p1").write_bytes(blob[: len(blob) // 3])
    (tmp_path / "p2").write_bytes(blob[len(blob) // 3 :])
    _, whole = read_ct2(tmp_path / "ct2" / "model.bin")
    _, parts = read_ct2([tmp_path / "p1", tmp_path / "p2"])
    assert all(np.array_equal(whole[k], parts[k]) for k in whole)
    with pytest.raises(CT2FormatError, match="truncated"):
        read_ct2(tmp_path / "p1")
    (tmp_path / "bad.bin").write_bytes(struct.pack("<I", 99) + b"x" * 10)
    with pytest.raises(CT2FormatError, match="version 99"):
        read_ct2(tmp_path / "bad.bin")


_TO_OPENAI = [  # transformers -> openai-whisper names (the inverse of avsr.whisper.load's table)
    (r"^model\.encoder\.embed_positions\.weight$", "encoder.positional_embedding"),
    (r"^model\.decoder\.embed_positions\.weight$", "decoder.positional_embedding"),
    (r"^model\.decoder\.embed_tokens\.weight$", "decoder.token_embedding.weight"),
    (r"^model\.encoder\.layer_norm\.", "encoder.ln_post."),
    (r"^model\.decoder\.layer_norm\.", "decoder.ln."),
    (r"^model\.(encoder|decoder)\.layers\.", r"\1.blocks."),
    (r"^model\.encoder\.conv", "encoder.conv"),
    (r"\.self_attn\.q_proj\.", ".attn.query."),
    (r"\.self_attn\.k_proj\.", ".attn.key."),
    (r"\.self_attn\.v_proj\.", ".attn.value."),
    (r"\.self_attn\.out_proj\.", ".attn.out."),
    (r"\.encoder_attn\.q_proj\.", ".cross_attn.query."),
    (r"\.encoder_attn\.k_proj\.", ".cross_attn.key."),
    (r"\.encoder_attn\.v_proj\.", ".cross_attn.value."),
    (r"\.encoder_attn\.out_proj\.", ".cross_attn.out."),
    (r"\.self_attn_layer_norm\.", ".attn_ln."),
    (r"\.encoder_attn_layer_norm\.", ".cross_attn_ln."),
    (r"\.final_layer_norm\.", ".mlp_ln."),
    (r"\.fc1\.", ".mlp.0."),
    (r"\.fc2\.", ".mlp.2."),
]


def test_openai_checkpoint_loads_with_weights_only(tiny_whisper, tmp_path):
    model, _ = tiny_whisper()
    c = model.config
    state = {}
    for k, v in model.state_dict().items():
        if k == "proj_out.weight":
            continue
        for pat, rep in _TO_OPENAI:
            k = re.sub(pat, rep, k)
        state[k] = v.half()
    dims = {
        "n_mels": 80,
        "n_vocab": c.vocab_size,
        "n_audio_ctx": 1500,
        "n_audio_state": c.d_model,
        "n_audio_head": 2,
        "n_audio_layer": 2,
        "n_text_ctx": 448,
        "n_text_state": c.d_model,
        "n_text_head": 2,
        "n_text_layer": 2,
    }
    torch.save({"dims": dims, "model_state_dict": state}, tmp_path / "tiny.pt")
    loaded, _ = from_openai(tmp_path / "tiny.pt", tokenizer=tiny_en_folder())
    mel = torch.randn(1, 80, 3000)
    ref = model.half().float()
    assert torch.allclose(_logits(loaded, mel), _logits(ref, mel), atol=1e-4)


def test_unsafe_or_wrong_files_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"dims": {}, "model_state_dict": {}, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(WhisperLoadError, match="not a loadable"):
        from_openai(tmp_path / "evil.pt")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(WhisperLoadError, match="not a Whisper model"):
        load_whisper(tmp_path / "notes.txt")
    with pytest.raises(WhisperLoadError, match="smollm2-135m-instruct"):
        load_whisper("smollm2-135m-instruct")


def test_features_match_whisper_feature_extractor():
    from transformers import WhisperFeatureExtractor

    a = read_audio(FIXTURES / "goforward_16k.wav")
    ref = WhisperFeatureExtractor(feature_size=80)(a, sampling_rate=16000, return_tensors="pt").input_features[0]
    assert torch.equal(whisper_input(a), ref)
    assert log_mel(a).shape == (80, len(a) // 160)
    with pytest.raises(ValueError, match="30 s"):
        whisper_input(np.zeros(31 * 16000, np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["whisper-tiny.en"])  # whisper-base: tests/whisper/test_ct2.py
def test_registry_whisper_matches_ctranslate2_and_faster_whisper(name, tmp_path, monkeypatch):
    """The converted offline weights against CTranslate2 running the same package's files:
    on identical log-mel input the encoder outputs agree to float32 precision and greedy
    decoding gives the same tokens for every real speech fixture. faster-whisper end to end
    (its own feature extractor) gives the same words on most utterances and the same WER."""
    ct2 = pytest.importorskip("ctranslate2")
    fw = pytest.importorskip("faster_whisper")
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.core.metrics import error_rate
    from avsr.core.registry import registered_files
    from avsr.recipes.audio import speech_records
    from avsr.text import normalize

    monkeypatch.setenv("AVSR_CACHE", str(tmp_path / "cache"))  # convert from scratch
    model, proc = load_whisper(name)
    av = AVWhisper(model, proc, name).eval()
    files = registered_files(name)
    folder = files[0].parent
    if len(files) > 1:  # CTranslate2 wants one model.bin: join the parts
        folder = tmp_path / "ct2"
        folder.mkdir()
        with open(folder / "model.bin", "wb") as out:
            for f in files:
                out.write(f.read_bytes())
        for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
            (folder / extra).write_bytes((files[0].parent / extra).read_bytes())
    engine = ct2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    tok = proc.tokenizer
    prefix = (
        ["<|startoftranscript|>"]
        + (["<|en|>", "<|transcribe|>"] if model.generation_config.is_multilingual else [])
        + ["<|notimestamps|>"]
    )
    ref_model = fw.WhisperModel(str(folder), device="cpu", compute_type="float32", cpu_threads=2)
    recs = speech_records(FIXTURES / "speech")
    ours, theirs = [], []
    for r in recs:
        a = read_audio(r["audio"])
        mel = whisper_input(a)[None]
        enc = np.array(engine.encode(ct2.StorageView.from_array(mel.numpy()), to_cpu=True))
        with torch.no_grad():
            mine = model.model.encoder(mel).last_hidden_state.numpy()
        assert np.abs(enc - mine).max() < 1e-3 * np.abs(mine).max(), r["id"]  # float32 kernels differ, nothing more
        res = engine.generate(ct2.StorageView.from_array(mel.numpy()), [tok.convert_tokens_to_ids(prefix)], beam_size=1)
        text = av.generate(mel)[0]
        assert text == " ".join(tok.decode(res[0].sequences_ids[0]).split()), r["id"]
        ours.append(normalize(text))
        segs, _ = ref_model.transcribe(
            a,
            beam_size=1,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            language="en",
            vad_filter=False,
        )
        theirs.append(normalize(" ".join(s.text for s in segs)))
    same = sum(o == t for o, t in zip(ours, theirs))
    refs = [r["text"].split() for r in recs]
    wer, wer_fw = error_rate(refs, [o.split() for o in ours]), error_rate(refs, [t.split() for t in theirs])
    print(
        f"{name}: same tokens as CTranslate2 on {len(recs)}/{len(recs)}; "
        f"{same}/{len(recs)} word-identical to faster-whisper; "
        f"WER vs transcripts {100 * wer:.1f}% (faster-whisper {100 * wer_fw:.1f}%)"
    )
    assert same >= len(recs) - 4 and abs(wer - wer_fw) < 0.03
