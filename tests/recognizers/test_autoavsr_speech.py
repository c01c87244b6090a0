"""The published Auto-AVSR audio-only and audio-visual models behind ``avsr transcribe`` and
``avsr.load_recognizer``: small random models written in the peer's own layouts, real media
(a talking-face video with sound, a speech recording, a silent-face video); a segment without
crops falls back and says so; bad files stop the CLI with exit code 2 and one line."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import FIXTURES, PYFEAT, SPEECH

pytest.importorskip("espnet")
from autoavsr_reference import Reference, lm_peer_state_dict, lm_reference, peer_state_dict  # noqa: E402

import avsr  # noqa: E402
from avsr.cli import main  # noqa: E402
from avsr.core.errors import UsageError  # noqa: E402

UNITS = FIXTURES / "auto_avsr_unigram5000_units.txt"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("autoavsr_speech")
    for kind, layout in (("asr", "head"), ("avsr", "v1"), ("vsr", "v1")):
        torch.save(peer_state_dict(Reference(kind=kind).randomise(1), layout), d / f"{kind}.pth")
    lm, conf = lm_reference()
    (d / "lm").mkdir()
    torch.save(lm_peer_state_dict(lm), d / "lm" / "model.pth")
    (d / "lm" / "model.json").write_text(json.dumps(conf))
    return d


def test_audio_model_instead_of_whisper_with_the_lm(files):
    rec = avsr.load_recognizer(asr=files / "asr.pth", tokens=UNITS, lm=files / "lm" / "model.pth", beam=4)
    assert rec.kind == "av" and rec.decoding.lm_weight == 0.3 and rec.fallback is None
    res = rec.transcribe(SPEECH)
    assert res.mode == "asr" and res.text and {s["by"] for s in res.segments} == {"asr"}
    assert res.model["asr_layout"] == "head" and res.model["lm_weight"] == "0.3" and len(res.model["lm_sha256"]) == 64
    same = avsr.load_recognizer(asr=files / "asr.pth", tokens=UNITS, lm=files / "lm" / "model.pth", beam=4)
    assert same.transcribe(SPEECH).text == res.text  # deterministic


def test_audio_visual_model_reads_the_lips_and_falls_back_to_the_audio_model(files):
    rec = avsr.load_recognizer(avsr=files / "avsr.pth", asr=files / "asr.pth", tokens=UNITS, beam=3)
    assert rec.needs_crops and rec.roi.align == "mean_face" and rec.roi.gray_from == "rgb"
    video = rec.transcribe(PYFEAT)
    assert video.mode == "avsr" and video.text and [s["by"] for s in video.segments] == ["avsr"]
    assert video.face_ratio > 0.9
    audio = rec.transcribe(SPEECH)  # no video: the audio model, recorded
    assert audio.mode == "asr" and {s["by"] for s in audio.segments} == {"asr"}


def test_without_an_audio_model_a_faceless_segment_goes_to_whisper(files):
    rec = avsr.load_recognizer("whisper-tiny.en", avsr=files / "avsr.pth", tokens=UNITS, beam=2, adapter="none")
    assert rec.fallback is not None and rec.names["fallback whisper"] == "whisper-tiny.en"
    res = rec.transcribe(SPEECH)
    assert {s["by"] for s in res.segments} == {"whisper"} and "go forward" in res.text.lower()


def test_cli_runs_both_models_and_records_which_read_each_segment(files, tmp_path):
    out = tmp_path / "o.jsonl"
    args = ["transcribe", "--avsr", str(files / "avsr.pth"), "--asr", str(files / "asr.pth"), "--tokens", str(UNITS)]
    assert main([*args, "--beam", "2", "-q", str(PYFEAT), str(SPEECH), "-o", str(out)]) == 0
    recs = {r["mode"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert [s["by"] for s in recs["avsr"]["segments"]] == ["avsr"] and recs["asr"]["segments"][0]["by"] == "asr"
    assert recs["avsr"]["model"]["avsr_sha256"] != recs["avsr"]["model"]["asr_sha256"]


def test_options_that_do_not_apply_are_refused(files):
    with pytest.raises(UsageError, match="needs its units file"):
        avsr.load_recognizer(asr=files / "asr.pth")
    with pytest.raises(UsageError, match="--lm is fused into the joint search"):
        avsr.load_recognizer(asr=files / "asr.pth", tokens=UNITS, lm=files / "lm" / "model.pth", decode="ctc")
    with pytest.raises(UsageError, match="--lm-weight needs a language model"):
        avsr.load_recognizer(asr=files / "asr.pth", tokens=UNITS, lm_weight=0.5)
    with pytest.raises(UsageError, match="give --vsr, --asr or --avsr"):
        avsr.load_recognizer("whisper-tiny.en", lm=files / "lm" / "model.pth")


def test_bad_files_exit_2_with_one_line(files, tmp_path, capsys):
    cut = tmp_path / "cut.pth"
    cut.write_bytes((files / "asr.pth").read_bytes()[:4096])

    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    evil = tmp_path / "evil.pth"
    torch.save({"w": Evil()}, evil)
    (tmp_path / "otherlm").mkdir()
    other, conf = lm_reference(vocab=300)
    torch.save(lm_peer_state_dict(other), tmp_path / "otherlm" / "model.pth")
    (tmp_path / "otherlm" / "model.json").write_text(json.dumps(conf))
    (tmp_path / "badjson").mkdir()
    (tmp_path / "badjson" / "model.pth").write_bytes((files / "lm" / "model.pth").read_bytes())
    (tmp_path / "badjson" / "model.json").write_text(json.dumps(conf | {"unit": 4096}))
    cases = [
        (["--asr", files / "vsr.pth"], "visual (VSR) checkpoint, not an Auto-AVSR audio-only (ASR) checkpoint"),
        (["--avsr", files / "asr.pth"], "give it with --asr"),
        (["--vsr", files / "lm" / "model.pth", "--mode", "vsr"], "give it with --lm"),
        (["--asr", cut], "truncated or corrupt"),
        (["--asr", evil], "never executes checkpoint content"),
        (["--asr", files / "asr.pth", "--lm", tmp_path / "otherlm" / "model.pth"], "another vocabulary"),
        (["--asr", files / "asr.pth", "--lm", tmp_path / "badjson" / "model.pth"], "it says unit=4096, they have 128"),
        (["--asr", files / "asr.pth", "--lm", files / "asr.pth"], "give it with --asr"),
    ]
    for flags, says in cases:
        code = main(["transcribe", *map(str, flags), "--tokens", str(UNITS), str(SPEECH)])
        err = capsys.readouterr().err.strip()
        assert code == 2, (flags, err)
        assert says in err and len(err.splitlines()) == 1 and "Traceback" not in err, (flags, err)


@pytest.mark.slow
def test_full_size_audio_visual_model_and_lm_through_avsr_transcribe(tmp_path):
    """The published sizes (444 M + 54 M parameters, random weights) in the peer's own layouts."""
    from avsr.vsr.autoavsr import AutoAVSR, AutoAVSRConfig
    from avsr.vsr.lm import LMConfig, TransformerLM

    torch.manual_seed(0)
    model = AutoAVSR(AutoAVSRConfig(kind="avsr"))
    torch.save(
        {k.replace(".pointwise_conv", ".pointwise_cov"): v for k, v in model.state_dict().items()}, tmp_path / "av.pth"
    )
    del model
    (tmp_path / "lm").mkdir()
    torch.save(TransformerLM(LMConfig()).state_dict(), tmp_path / "lm" / "model.pth")  # the published names
    conf = {"layer": 16, "unit": 2048, "att_unit": 512, "embed_unit": 128, "head": 8, "pos_enc": "none"}
    (tmp_path / "lm" / "model.json").write_text(
        json.dumps(conf | {"model_module": "transformer", "backend": "pytorch"})
    )
    out = tmp_path / "o.jsonl"
    args = ["transcribe", "--avsr", str(tmp_path / "av.pth"), "--lm", str(tmp_path / "lm" / "model.pth")]
    assert main([*args, "--tokens", str(UNITS), "--beam", "2", "-q", str(PYFEAT), "-o", str(out)]) == 0
    (rec,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert rec["mode"] == "avsr" and [s["by"] for s in rec["segments"]] == ["avsr"] and rec["text"]
    assert rec["model"]["avsr_layout"] == "v1" and rec["model"]["lm_weight"] == "0.3"
