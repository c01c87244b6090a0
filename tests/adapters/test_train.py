"""Training recipes: one adapter set (audio-only and audio-visual) and the noise classifier."""

import csv
import json

import torch
from avtools import FIXTURES

from avsr.core.configs import build
from avsr.core.jsonl import read_jsonl, write_jsonl


def _losses(run):
    rows = [r for r in csv.DictReader(open(run / "logs" / "version_0" / "metrics.csv")) if r.get("train/loss")]
    return [float(r["train/loss"]) for r in rows]


def test_adapter_set_trains_only_its_weights_and_resumes(tiny_whisper, audio_data, tmp_path):
    from avsr.adapters.sets import read_set_meta
    from avsr.adapters.torch_bank import AVWhisper
    from avsr.train.av import AVTrainConfig, train_av

    short = audio_data / "short.jsonl"
    write_jsonl(short, [r for r in read_jsonl(audio_data / "speech_train.jsonl") if r["seconds"] < 2.0][:2])
    over = [
        f"data.train={short}",
        f"data.noise_sources={audio_data / 'noise_sources.jsonl'}",
        "data.noise.categories=[music]",
        "data.batch_size=2",
        "lora.r=4",
        "optim.lr=3e-3",
        "optim.warmup_steps=1",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
        "checkpoint_every=4",
        f"output={tmp_path / 'run'}",
        "name=music",
    ]
    model, proc = tiny_whisper()
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    folder = train_av(build(AVTrainConfig, None, over + ["trainer.max_steps=8"]), whisper=(model, proc))
    after = {k.replace(".base_layer", ""): v for k, v in model.state_dict().items() if "lora_" not in k}
    assert after.keys() == frozen.keys() and all(
        torch.equal(after[k], frozen[k]) for k in frozen
    )  # Whisper itself never trains
    meta = read_set_meta(folder)
    assert meta["modality"] == "audio" and meta["noise"]["categories"] == ["music"] and meta["steps"] == 8
    losses = _losses(tmp_path / "run")
    assert losses[-1] < losses[0]
    av = AVWhisper(*tiny_whisper(), "tiny").eval()
    assert av.load_set(folder) == "music" and av.trainable_parameters("music") == meta["trainable_parameters"]
    ck = torch.load(tmp_path / "run" / "lightning" / "last.ckpt", weights_only=True, map_location="cpu")
    assert all("lora_" in k for k in ck["state_dict"])
    train_av(build(AVTrainConfig, None, over + ["trainer.max_steps=10"]), whisper=tiny_whisper())
    assert (
        torch.load(tmp_path / "run" / "lightning" / "last.ckpt", weights_only=True, map_location="cpu")["global_step"]
        == 10
    )


def test_audio_visual_set_trains_the_fusion(tiny_whisper, audio_data, tmp_path, media):
    """Records with mouth crops (real ROI output of the carphone clip; not lip-synchronised
    with the speech, which only matters for accuracy): the fusion's weights move."""
    from conftest import CARPHONE
    from safetensors.torch import load_file

    from avsr.roi.save import extract_to
    from avsr.train.av import AVTrainConfig, train_av

    rec = extract_to(CARPHONE, tmp_path / "roi", "carphone")
    crops = str(tmp_path / "roi" / rec["roi"])
    speech = [r for r in read_jsonl(audio_data / "speech_train.jsonl") if r["seconds"] < 2.0][:2]
    write_jsonl(tmp_path / "av.jsonl", [{**r, "crops": crops} for r in speech])
    over = [
        f"data.train={tmp_path / 'av.jsonl'}",
        f"data.noise_sources={audio_data / 'noise_sources.jsonl'}",
        "data.noise.categories=[babble]",
        "data.batch_size=2",
        "lora.r=4",
        "lora.fusion=true",
        "fusion.dim=32",
        "fusion.heads=2",
        "fusion.stem_channels=8",
        "fusion.stage_channels=[8,16]",
        "optim.lr=3e-3",
        "optim.warmup_steps=1",
        "trainer.accelerator=cpu",
        "trainer.enable_progress_bar=false",
        "trainer.max_steps=3",
        f"output={tmp_path / 'run'}",
        "name=babble-av",
    ]
    folder = train_av(build(AVTrainConfig, None, over), whisper=tiny_whisper())
    meta = json.loads((folder / "avsr_adapter.json").read_text())
    assert meta["modality"] == "audio-visual"
    w = load_file(str(folder / "fusion.safetensors"))
    assert w["out.weight"].abs().sum() > 0  # moved away from its zero initialisation


def test_noise_classifier_trains_and_loads(audio_data, tmp_path):
    """The training loss falls, and the checkpoint reloads to exactly the trained weights (not the
    initial ones)."""
    import lightning as L
    import torch

    import avsr
    from avsr.noise.logmel_classifier import NoiseClassifier
    from avsr.train.classifier import NoiseTrainConfig, train_noise

    steps = 40
    over = [
        f"data.train={audio_data / 'speech_train.jsonl'}",
        f"data.val={audio_data / 'speech_test.jsonl'}",
        f"data.noise_sources={audio_data / 'noise_sources.jsonl'}",
        "data.repeats=8",
        "data.batch_size=8",
        "model.dim=32",
        "model.depth=1",
        "model.heads=2",
        "model.ffn=64",
        "model.max_seconds=2.0",
        f"trainer.max_steps={steps}",
        "trainer.accelerator=cpu",
        "optim.lr=3e-3",
        "optim.warmup_steps=4",
        f"checkpoint_every={steps}",
        "data.num_workers=0",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=1",
        f"output={tmp_path / 'noise'}",
    ]
    cfg = build(NoiseTrainConfig, None, over)
    final = train_noise(cfg)
    losses = _losses(tmp_path / "noise")
    assert len(losses) == steps
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.85 * first, f"loss did not fall: {first:.3f} -> {last:.3f}"
    clf = avsr.load_model(final)
    trained = torch.load(tmp_path / "noise" / "lightning" / "last.ckpt", weights_only=True, map_location="cpu")[
        "state_dict"
    ]
    for k, v in clf.state_dict().items():
        assert torch.equal(v, trained[f"model.{k}"]), k
    L.seed_everything(cfg.seed)
    init = NoiseClassifier(cfg.model).state_dict()
    assert any(not torch.equal(v, init[k]) for k, v in clf.state_dict().items() if v.is_floating_point())
    from avsr.core.audio import read_audio

    out = clf.predict(read_audio(FIXTURES / "goforward_16k.wav"))
    assert out["category"] in ("clean", "babble", "music", "noise", "sidespeaker") and isinstance(out["snr"], float)
