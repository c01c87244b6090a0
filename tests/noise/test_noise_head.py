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
    from avsr.noise import load_noise_classifier
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
    clf = load_noise_classifier(final, av.frozen_encoder())  # the head on the bank's frozen Whisper
    assert isinstance(clf, NoiseHead)
    rec = AVRecognizer(av, clf)
    out = clf.predict(audio)
    assert out["category"] in clf.cfg.classes and abs(sum(out["probs"].values()) - 1) < 1e-3
    av.activate("music")
    assert clf.predict(audio) == out  # the features do not depend on the active set
    assert rec.choose(audio) in ("none", "music")
    # a rerun with the same data settings reuses the cached features
    train_noise_head(build(NoiseHeadTrainConfig, None, over + ["trainer.max_steps=16"]), whisper=model)
    assert os.stat(cache).st_mtime_ns == stamp


class StubNoise:
    """A noise classifier that says what it was told for each clip length (else clean)."""

    def __init__(self, by_length: dict[int, tuple[str, float]]):
        self.by_length, self.calls = by_length, 0

    def predict(self, audio):
        self.calls += 1
        category, snr = self.by_length.get(len(audio), ("clean", 30.0))
        return {"category": category, "snr": snr, "probs": {category: 1.0}}


def test_routed_system_decodes_with_the_set_the_router_picks(tiny_whisper, audio_data):
    """The routed system decodes each mixture with the set that the recogniser's classifier and
    router pick: its text is that forced set's (reused when that set was decoded forced), and its
    lines record the choice and the estimate."""
    from avtools import perturb_set

    from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig
    from avsr.core.audio import read_audio
    from avsr.evaluation.conditions import conditions
    from avsr.evaluation.decoding import ROUTED, EvalInputError, run_whisper
    from avsr.recognizers.audiovisual import AVRecognizer

    model, proc = tiny_whisper(max_length=6, init_std=0.5)
    av = AVWhisper(model, proc, "tiny").eval()
    av.add_set("music", LoraSetConfig(r=4, alpha=8))
    perturb_set(av, "music", seed=1, scale=0.5)  # the set changes the text
    recs = list(read_jsonl(audio_data / "speech_test.jsonl"))[:2]
    lengths = [len(read_audio(r["audio"])) for r in recs]
    assert len(set(lengths)) == len(recs) and max(lengths) < 30 * 16000  # one window each, told apart by length
    estimates = {lengths[0]: ("music", 5.0), lengths[1]: ("clean", 25.0)}
    expected = {recs[0]["id"]: "music", recs[1]["id"]: "none"}  # the default router's rules
    clf = StubNoise(estimates)
    rec = AVRecognizer(av, clf)
    lines = run_whisper(rec, recs, conditions([], []), ["none", "music", ROUTED])
    assert len(lines) == 3 * len(recs)  # one line per set and utterance
    assert clf.calls >= len(recs)  # every mixture was classified
    by = {(u["set"], u["id"]): u for u in lines}
    assert by[("music", recs[0]["id"])]["hyp"] != by[("none", recs[0]["id"])]["hyp"]  # the choice matters
    for r, n in zip(recs, lengths):
        routed = by[(ROUTED, r["id"])]
        assert routed["routed_to"] == expected[r["id"]]
        assert (routed["noise_category"], routed["noise_snr"]) == estimates[n]
        assert routed["hyp"] == by[(expected[r["id"]], r["id"])]["hyp"]  # the forced set's text
    calls = []
    real = av.decode
    av.decode = lambda *a, **k: calls.append(1) or real(*a, **k)
    routed_only = run_whisper(rec, recs, conditions([], []), ["music", ROUTED])
    assert len(calls) == 2  # music forced; routed reuses it, decodes only the mixture routed to 'none'
    assert [u["hyp"] for u in routed_only if u["set"] == ROUTED] == [by[(ROUTED, r["id"])]["hyp"] for r in recs]
    del av.decode
    with pytest.raises(EvalInputError, match="noise classifier"):
        run_whisper(AVRecognizer(av), recs, conditions([], []), [ROUTED])


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
