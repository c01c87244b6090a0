"""The noise head on Whisper's frozen lower layers, packed training windows, LoRA that leaves the
lower encoder blocks frozen, and the routed evaluation system."""

import pytest
import torch
from avtools import FIXTURES

from avsr.core.configs import build
from avsr.core.jsonl import read_jsonl


def test_lower_layers_stay_frozen_with_skip(tiny_whisper):
    from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig

    av = AVWhisper(*tiny_whisper(), "tiny")
    av.add_set("babble", LoraSetConfig(r=2, skip_encoder_layers=1))
    names = [n for n, _ in av.whisper.named_parameters() if "lora_" in n]
    assert not [n for n in names if ".encoder.layers.0." in n]
    assert [n for n in names if ".encoder.layers.1." in n] and [n for n in names if ".decoder.layers.0." in n]


def test_packed_windows_hold_several_utterances(audio_data):
    from avsr.data.speech import PackedNoisySpeech, read_split

    recs = read_split(audio_data / "speech_train.jsonl", "train")
    ds = PackedNoisySpeech(recs, None, True, window_seconds=12.0, seed=3)
    packs = ds.packs(0)
    assert sorted(j for p in packs for j, _ in p) == list(range(len(recs)))  # every utterance once an epoch
    assert len(packs) < len(recs)
    item = ds[0]
    assert len(item["audio"]) <= 12 * 16000 and item["text"].count(" ") >= len(packs[0]) - 1
    assert item["text"].startswith(recs[packs[0][0][0]]["text"])
    ds.epoch = 1
    assert ds.packs(1) != packs  # redrawn every epoch
    fixed = PackedNoisySpeech(recs, None, False, window_seconds=12.0)
    first = [j for j, _ in fixed.packs(0)[0]]
    assert first == list(range(len(first)))  # evaluation: in manifest order, the same every time


def test_noise_head_trains_caches_and_routes(tiny_whisper, audio_data, tmp_path):
    import os

    from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
    from avsr.core.audio import read_audio
    from avsr.noise.head_torch import NoiseHead
    from avsr.recognizers.audiovisual import AVRecognizer
    from avsr.recognizers.checkpoints import load_checkpoint
    from avsr.train.noise_head import NoiseHeadTrainConfig, train_noise_head

    over = [
        f"data.train={audio_data / 'speech_train.jsonl'}",
        f"data.val={audio_data / 'speech_test.jsonl'}",
        f"data.noise_sources={audio_data / 'noise_sources.jsonl'}",
        "data.examples=40",
        "data.val_examples=10",
        "data.seconds=[1.0,3.0]",
        "data.batch_size=8",
        "model.whisper=tiny",
        "model.layers=1",
        "model.d_model=64",
        "model.hidden=16",
        "trainer.max_steps=15",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
        "optim.warmup_steps=2",
        "checkpoint_every=15",
        f"output={tmp_path / 'head'}",
    ]
    model, proc = tiny_whisper()
    final = train_noise_head(build(NoiseHeadTrainConfig, None, over), whisper=model)
    cache = tmp_path / "head" / "features-train.pt"
    c = torch.load(cache, weights_only=True)
    assert len(c["feats"]) == 40 and c["feats"][0].shape[1] == 64 and c["feats"][0].dtype == torch.float16
    assert set(c["label"].tolist()) <= set(range(5)) and torch.isnan(c["snr"][c["label"] == 0]).all()
    stamp = os.stat(cache).st_mtime_ns
    head = load_checkpoint(final)
    assert isinstance(head, NoiseHead) and head.encoder is None
    assert set(head.state_dict()) == {k for k in head.state_dict() if not k.startswith("encoder")}
    audio = read_audio(FIXTURES / "goforward_16k.wav")
    with pytest.raises(Exception, match="no Whisper attached"):
        head.predict(audio)

    av = AVWhisper(model, proc, "tiny")
    av.add_set("music", LoraSetConfig(r=2, skip_encoder_layers=1))
    for p in av.whisper.parameters():
        if p.requires_grad:
            p.data.normal_(0, 0.5)  # a set that changes the model where it applies
    rec = AVRecognizer(av, head)
    out = head.predict(audio)
    assert out["category"] in head.cfg.classes and abs(sum(out["probs"].values()) - 1) < 1e-3
    av.activate("music")
    assert head.predict(audio) == out  # the features do not depend on the active set
    assert rec.choose(audio) in ("none", "music")
    # a rerun with the same data settings reuses the cached features
    train_noise_head(build(NoiseHeadTrainConfig, None, over + ["trainer.max_steps=16"]), whisper=model)
    assert os.stat(cache).st_mtime_ns == stamp


def test_routed_system_reuses_decodes(tiny_whisper, audio_data):
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.evaluation.conditions import conditions
    from avsr.evaluation.decoding import ROUTED, run_whisper

    model, proc = tiny_whisper(max_length=6, init_std=0.5)
    av = AVWhisper(model, proc, "tiny").eval()
    recs = list(read_jsonl(audio_data / "speech_test.jsonl"))[:2]
    calls = []
    generate = av.generate
    av.generate = lambda *a, **k: calls.append(1) or generate(*a, **k)
    lines = run_whisper(av, recs, conditions([], []), ["none", ROUTED], choose=lambda a: ("none", None))
    assert len(calls) == 1  # routed to the frozen model: its decode is reused
    by = {(u["set"], u["id"]): u for u in lines}
    assert all(by[(ROUTED, r["id"])]["hyp"] == by[("none", r["id"])]["hyp"] for r in recs)
    assert all(by[(ROUTED, r["id"])]["routed_to"] == "none" for r in recs)
    with pytest.raises(ValueError, match="choose"):
        run_whisper(av, recs, conditions([], []), [ROUTED])
    assert len(lines) == 2 * len(recs)  # one line per set and utterance


def test_self_distillation_packs_transcribes_and_resumes(tiny_whisper, audio_data, tmp_path):
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.core.manifest import read_manifest
    from avsr.recipes.distill import distill, looped, pack_windows

    assert looped("oh, " * 60) and not looped("You couldn't pilot your way out of a paper bag, King.")
    recs = read_manifest(audio_data / "speech_train.jsonl")
    windows = list(pack_windows(recs, 12.0))
    assert sum(len(w) for w in windows) == len([r for r in recs if r["seconds"] <= 12.0])
    assert all(sum(r["seconds"] + 0.3 for r in w) - 0.3 <= 12.0 or len(w) == 1 for w in windows)
    av = AVWhisper(*tiny_whisper(max_length=6, init_std=0.5), "tiny")
    out = distill(recs, tmp_path, window_seconds=12.0, max_windows=2, model=av)
    got = list(read_jsonl(out)) + list(read_jsonl(tmp_path / "distilled_rejected.jsonl"))
    assert len(got) == 2 and all(r["target"] == r["text"] and r["parts"] for r in got)
    assert (tmp_path / got[0]["audio"]).is_file()
    calls = []
    av.generate = lambda *a, **k: calls.append(1)
    distill(recs, tmp_path, window_seconds=12.0, max_windows=2, model=av)  # nothing left to do
    assert not calls
