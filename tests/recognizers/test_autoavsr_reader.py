"""A published Auto-AVSR checkpoint behind the recogniser interfaces: a full-size (250 M
parameters, random weights) file in the published HEAD layout goes through `avsr transcribe
--mode vsr` on a real silent talking-face clip; bad checkpoints and units files stop the CLI with
exit code 2 and a reason, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import CARPHONE, FIXTURES

import avsr
from avsr.core.errors import CheckpointError, UsageError
from avsr.vsr.autoavsr import AutoAVSR, AutoAVSRConfig
from avsr.vsr.autoavsr_files import to_layout
from avsr.vsr.units import load_units, units_to_text

CLI = [sys.executable, "-m", "avsr.cli"]
UNITS = FIXTURES / "auto_avsr_unigram5000_units.txt"


def _save_peer_format(model: AutoAVSR, path, layout: str = "head") -> None:
    sd = {k.replace(".pointwise_conv", ".pointwise_cov"): v for k, v in to_layout(model.state_dict(), layout).items()}
    torch.save(sd, path)


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    torch.manual_seed(0)
    model = AutoAVSR(AutoAVSRConfig())
    path = tmp_path_factory.mktemp("published") / "random_vsr_base.pth"
    _save_peer_format(model, path)
    return path


@pytest.mark.slow
def test_silent_video_through_avsr_transcribe_with_a_full_size_checkpoint(full_size, tmp_path):
    out = tmp_path / "t.jsonl"
    args = ["transcribe", "--mode", "vsr", "--vsr", str(full_size), "--tokens", str(UNITS)]
    r = subprocess.run(CLI + [*args, "--decode", "ctc", str(CARPHONE), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (rec,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert rec["mode"] == "vsr" and isinstance(rec["text"], str) and rec["text"]  # random weights: some units
    assert rec["model"]["vsr_layout"] == "head" and len(rec["model"]["vsr_sha256"]) == 64
    assert rec["face_ratio"] > 0.9 and rec["segments"][0]["end"] == pytest.approx(4.0, abs=0.1)


@pytest.mark.slow
def test_load_recognizer_joint_search_on_a_full_size_checkpoint(full_size):
    reader = avsr.load_recognizer(vsr=full_size, tokens=UNITS, beam=4)
    assert reader.kind == "vsr" and reader.roi.align == "mean_face"
    crops = torch.randint(0, 255, (30, 96, 96), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    (res,) = reader.read([crops.numpy()])
    assert len(res["tokens"]) >= 1 and res["text"] == units_to_text(res["tokens"], reader.token_list)
    assert res["score"] < 0


def test_units_file_is_checked(tmp_path):
    tokens = load_units(UNITS)
    assert len(tokens) == 5049 and tokens[0] == "<blank>" and tokens[-1] == "<eos>"
    assert units_to_text([tokens.index("\u2581HELLO"), tokens.index("\u2581WORLD"), 5048], tokens) == "HELLO WORLD"
    lines = UNITS.read_text(encoding="utf-8").splitlines()
    (tmp_path / "short.txt").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="5046 units"):
        load_units(tmp_path / "short.txt")
    swapped = [lines[1].split()[0] + " 1", lines[0].split()[0] + " 2", *lines[2:]]
    (tmp_path / "swapped.txt").write_text("\n".join(swapped) + "\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="sha256"):
        load_units(tmp_path / "swapped.txt")
    (tmp_path / "garbage.txt").write_text("hello world\n")
    with pytest.raises(CheckpointError, match="expected 'PIECE 1'"):
        load_units(tmp_path / "garbage.txt")


def test_reader_refuses_options_that_do_not_apply(tmp_path):
    small = AutoAVSR(AutoAVSRConfig(d_model=96, heads=4, encoder_layers=1, encoder_ffn=96, decoder_layers=1))
    _save_peer_format(small, tmp_path / "small.pth", "v1")
    with pytest.raises(UsageError, match="needs its units file"):
        avsr.load_recognizer(vsr=tmp_path / "small.pth")
    with pytest.raises(UsageError, match="joint .default. or ctc"):
        avsr.load_recognizer(vsr=tmp_path / "small.pth", tokens=UNITS, decode="greedy")
    with pytest.raises(UsageError, match="outputs words"):
        avsr.load_recognizer(vsr=tmp_path / "small.pth", tokens=UNITS, p2t="x")
    reader = avsr.load_recognizer(vsr=tmp_path / "small.pth", tokens=UNITS, decode="ctc", beam=3)
    assert reader.decode_mode == "ctc" and reader.beam == 3


def _bad_files(tmp_path):
    good = tmp_path / "good.pth"
    _save_peer_format(AutoAVSR(AutoAVSRConfig(d_model=96, heads=4, encoder_layers=1, encoder_ffn=96)), good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[:4096])

    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    evil = tmp_path / "evil.pth"
    torch.save({"w": Evil()}, evil)
    foreign = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, foreign)
    short = tmp_path / "units_short.txt"
    short.write_text("\n".join(UNITS.read_text(encoding="utf-8").splitlines()[:100]) + "\n", encoding="utf-8")
    return [
        (cut, UNITS, "truncated or corrupt"),
        (evil, UNITS, "never executes checkpoint content"),
        (foreign, UNITS, "not an Auto-AVSR checkpoint or language model"),
        (good, short, "100 units"),
    ]


def test_bad_checkpoints_and_units_stop_the_cli_with_exit_code_2(tmp_path):
    for ckpt, units, reason in _bad_files(tmp_path):
        args = ["transcribe", "--mode", "vsr", "--vsr", str(ckpt), "--tokens", str(units), str(CARPHONE)]
        r = subprocess.run(CLI + args, capture_output=True, text=True)
        assert r.returncode == 2, (ckpt.name, r.stderr)
        assert reason in r.stderr and "Traceback" not in r.stderr and "executed" not in r.stdout, r.stderr
