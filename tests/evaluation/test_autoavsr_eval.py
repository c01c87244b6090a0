"""``avsr eval asr|avsr`` with the published Auto-AVSR audio and audio-visual models (small random
models in the peer's layouts) on the miniature LRS3 test set: clean and under the harness's
seeded noise, the run folder written, and two runs identical."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("espnet")
from autoavsr_reference import Reference, peer_state_dict  # noqa: E402

N_CLIPS = 3  # tests/evaluation/conftest.py: clips in the miniature test set

from avsr.cli import main  # noqa: E402
from avsr.core.jsonl import read_jsonl  # noqa: E402

UNITS = "tests/fixtures/auto_avsr_unigram5000_units.txt"


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("autoavsr_eval")
    for kind in ("asr", "avsr"):
        torch.save(peer_state_dict(Reference(kind=kind).randomise(2)), d / f"{kind}.pth")
    return d


@pytest.mark.parametrize("what", ["asr", "avsr"])
def test_eval_runs_the_auto_avsr_model_clean_and_in_noise(lrs3_test, noise_sources, ckpts, tmp_path, what, capsys):
    args = ["eval", what, "--manifest", str(lrs3_test), f"--{what}", str(ckpts / f"{what}.pth"), "--tokens", UNITS]
    args += ["--noise-sources", str(noise_sources), "--categories", "babble", "--snrs", "clean", "0", "--beam", "2"]
    assert main([*args, "-o", str(tmp_path / "a"), "--bootstrap", "50"]) == 0
    lines = list(read_jsonl(tmp_path / "a" / "utterances.jsonl"))
    assert len(lines) == 2 * N_CLIPS and {u["set"] for u in lines} == {"auto-avsr"}
    assert {u["condition"] for u in lines} == {"clean", "babble 0 dB"}
    md = (tmp_path / "a" / "results.md").read_text()
    assert f"{what} checkpoint" in md and "joint (beam 2, CTC weight 0.1)" in md
    assert main([*args, "-o", str(tmp_path / "b"), "--bootstrap", "50"]) == 0
    again = list(read_jsonl(tmp_path / "b" / "utterances.jsonl"))
    assert [u["hyp"] for u in again] == [u["hyp"] for u in lines]
    capsys.readouterr()
    assert main([*args, "--sets", "none", "-o", str(tmp_path / "c")]) == 2
    assert "no adapter sets" in capsys.readouterr().err
