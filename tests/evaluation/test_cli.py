"""`avsr eval asr|avsr|vsr`: a real run through the command, and clear exit-code-2 messages for bad usage."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from avtools import FIXTURES

from avsr.cli import main
from avsr.core.jsonl import read_jsonl, write_jsonl

CLI = [sys.executable, "-m", "avsr.cli"]


def test_eval_asr_command_writes_the_run_folder(lrs3_test, noise_sources, whisper_dir, tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(
        CLI
        + [
            "eval",
            "asr",
            "--manifest",
            str(lrs3_test),
            "-o",
            str(out),
            "--whisper",
            str(whisper_dir / "tiny"),
            "--temperature-increment-on-fallback",
            "none",
            "--adapters",
            str(whisper_dir / "adapters"),
            "--sets",
            "none",
            "music",
            "--noise-sources",
            str(noise_sources),
            "--categories",
            "noise",
            "--snrs",
            "clean",
            "0",
            "-10",
            "--bootstrap",
            "100",
            "--limit",
            "2",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "asr [music] noise -10 dB: WER " in r.stdout and "95% CI" in r.stdout and "on 2 utterances" in r.stdout
    for name in (
        "utterances.jsonl",
        "results.md",
        "results.csv",
        "wer_vs_snr.png",
        "wer_by_category.png",
        "report.html",
        "run.json",
    ):
        assert (out / name).is_file(), name
    md = (out / "results.md").read_text()
    assert (
        "- corpus: LRS3" in md and "Published LRS3 numbers" in md
    )  # corpus guessed from the path; eval/published.yaml
    assert json.loads((out / "run.json").read_text())["conditions"] == 3


def _err(capsys, argv):
    code = main(argv)
    return code, capsys.readouterr().err


def test_bad_usage_exits_2_with_a_clear_message(lrs3_test, noise_sources, whisper_dir, vsr_ckpt, tmp_path, capsys):
    w = ["--whisper", str(whisper_dir / "tiny")]
    m = ["--manifest", str(lrs3_test), "-o", str(tmp_path / "o")]
    code, err = _err(capsys, ["eval", "asr", "--manifest", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "o")])
    assert code == 2 and "none.jsonl: no such file" in err
    no_text = tmp_path / "lrs3" / "manifest.jsonl"
    no_text.parent.mkdir()
    write_jsonl(no_text, [{k: v for k, v in r.items() if k != "text"} for r in read_jsonl(lrs3_test)])
    code, err = _err(capsys, ["eval", "asr", "--manifest", str(no_text), "-o", str(tmp_path / "o"), *w])
    assert code == 2 and "have no 'text'" in err
    code, err = _err(capsys, ["eval", "asr", *m, *w, "--snrs", "0"])
    assert code == 2 and "noisy conditions need --noise-sources" in err
    code, err = _err(capsys, ["eval", "asr", *m, *w, "--snrs", "loud", "--noise-sources", str(noise_sources)])
    assert code == 2 and "SNR 'loud'" in err
    code, err = _err(capsys, ["eval", "avsr", *m, *w, "--adapters", str(whisper_dir / "adapters"), "--sets", "opera"])
    assert code == 2 and "--sets opera: not installed" in err and "babble, music" in err
    code, err = _err(capsys, ["eval", "asr", *m, "--whisper", str(tmp_path / "no-whisper")])
    assert code == 2 and "no-whisper" in err
    code, err = _err(capsys, ["eval", "asr", *m, *w, "--noise-sources", str(tmp_path / "none.jsonl")])
    assert code == 2 and "no such noise-sources file" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {system: X, corpus: LRS3}\n")
    code, err = _err(capsys, ["eval", "asr", *m, *w, "--published", str(bad)])
    assert code == 2 and "missing paper" in err
    code, err = _err(capsys, ["eval", "vsr", "--ckpt", str(vsr_ckpt), "--manifest", str(lrs3_test), "--p2t", "lexicon"])
    assert code == 2 and "give -o OUT" in err
    code, err = _err(
        capsys,
        [
            "eval",
            "vsr",
            "--ckpt",
            str(tmp_path),
            "--manifest",
            str(lrs3_test),
            "--p2t",
            "lexicon",
            "-o",
            str(tmp_path / "v"),
        ],
    )
    assert code == 2 and "not an avsr checkpoint" in err
    assert not (tmp_path / "o").exists()  # nothing written by a refused run


def test_eval_vsr_keeps_per_only_mode_and_adds_wer_with_p2t(lrs3_test, vsr_ckpt, tmp_path, capsys):
    assert (
        main(["eval", "vsr", "--ckpt", str(vsr_ckpt), "--manifest", str(lrs3_test), "-o", str(tmp_path / "per.jsonl")])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("PER ") and "on 3 utterances (greedy)" in out and (tmp_path / "per.jsonl").is_file()
    assert (
        main(
            [
                "eval",
                "vsr",
                "--ckpt",
                str(vsr_ckpt),
                "--manifest",
                str(lrs3_test),
                "--p2t",
                "lexicon",
                "-o",
                str(tmp_path / "run"),
                "--bootstrap",
                "50",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "vsr [lexicon] clean: WER " in out and "PER " in out
    md = (tmp_path / "run" / "results.md").read_text()
    assert "VALLR" in md and "PER %" in md  # eval/published.yaml's LRS3 lip-reading entries beside this run
    assert json.loads((tmp_path / "run" / "run.json").read_text())["phoneme-to-text decoding"] == "dictionary lookup"


def own_manifest(folder: Path) -> Path:
    """A test set of the user's own: a JSONL manifest with id, audio and text, not LRS2/LRS3."""
    rows = [
        {"id": p.stem, "audio": str(p), "text": p.with_suffix(".txt").read_text().strip()}
        for p in (FIXTURES / "speech" / "goforward_16k.wav", FIXTURES / "speech" / "something_16k.wav")
    ]
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "my_own.jsonl", rows)
    return folder / "my_own.jsonl"


@pytest.mark.slow
def test_eval_on_an_own_manifest_gives_the_words_transcribe_gives(tmp_path):
    """`avsr eval asr --manifest my_own.jsonl` needs no --corpus, and scores the default of `avsr
    transcribe` (noise head + router + sets: 'routed') beside the frozen model, with the same words
    as `avsr transcribe` on the same files."""
    from avsr.text import normalize_for_wer

    manifest = own_manifest(tmp_path / "own")
    out = tmp_path / "run"
    r = subprocess.run(
        CLI + ["eval", "asr", "--manifest", str(manifest), "-o", str(out), "--bootstrap", "0"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "asr [none] clean" in r.stdout and "asr [routed] clean" in r.stdout
    md = (out / "results.md").read_text()
    assert "no published numbers shown" in md and json.loads((out / "run.json").read_text())["corpus"] == "custom"
    lines = list(read_jsonl(out / "utterances.jsonl"))
    routed = {u["id"]: u for u in lines if u["set"] == "routed"}
    assert all(u["routed_to"] and u["noise_category"] for u in routed.values())
    r = subprocess.run(CLI + ["transcribe", str(manifest), "-o", str(tmp_path / "t.jsonl"), "-q"], capture_output=True)
    assert r.returncode == 0, r.stderr[-3000:]
    said = {t["id"]: t for t in read_jsonl(tmp_path / "t.jsonl")}
    assert set(said) == set(routed)
    for cid, u in routed.items():  # the same words, and the same set chosen
        assert normalize_for_wer(said[cid]["text"]) == u["hyp"] and said[cid]["adapter"] == u["routed_to"], (
            said[cid],
            u,
        )
