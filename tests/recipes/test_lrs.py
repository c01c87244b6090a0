"""LRS2 / LRS3 recipes on miniature corpora built from the real fixture clips."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CARPHONE, PYFEAT

from avsr.core.jsonl import read_jsonl
from avsr.recipes import lrs

REPO = Path(__file__).resolve().parents[2]


def _clip(dst: Path, src: Path, text: str) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    dst.with_suffix(".txt").write_text(f"Text:  {text}\nConf:  4\n\nWORD START END ASDSCORE\nHELLO 0.10 0.40 5.1\n")


@pytest.fixture()
def lrs3(tmp_path):
    root = tmp_path / "LRS3"
    _clip(root / "test/spkA/00001.mp4", CARPHONE, "HELLO THERE")
    _clip(root / "test/spkB/00002.mp4", PYFEAT, "IT'S A NICE DAY")
    _clip(root / "trainval/spkC/50001.mp4", PYFEAT, "GOOD MORNING")
    _clip(root / "pretrain/spkD/00009.mp4", CARPHONE, "A LONGER PRETRAIN SENTENCE")
    return root


@pytest.fixture()
def lrs2(tmp_path):
    root = tmp_path / "LRS2"
    _clip(root / "main/5535415699068794046/00001.mp4", CARPHONE, "THE FIRST ONE")
    _clip(root / "main/6330311066473698535/00011.mp4", PYFEAT, "AND THE SECOND")
    _clip(root / "pretrain/5535415699068794046/00003.mp4", PYFEAT, "PRETRAINING TEXT")
    (root / "train.txt").write_text("5535415699068794046/00001\n")
    (root / "val.txt").write_text("")
    (root / "test.txt").write_text("6330311066473698535/00011 NF\n6330311066473698535/00099 NF\n")
    (root / "pretrain.txt").write_text("5535415699068794046/00003\n")
    return root


def test_read_lrs_text(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("Text:  IT'S   TWO  SPACES\nConf:  3\n")
    assert lrs.read_lrs_text(p) == "IT'S TWO SPACES"


def test_prepare_lrs3(lrs3, tmp_path):
    out = tmp_path / "out"
    res = lrs.prepare_lrs3(lrs3, out, splits=("test", "trainval"))
    assert res["test"].done == 2 and res["trainval"].done == 1
    recs = list(read_jsonl(out / "test" / "manifest.jsonl"))
    assert [r["id"] for r in recs] == ["spkA/00001", "spkB/00002"]
    assert recs[0]["text"] == "HELLO THERE" and recs[0]["split"] == "test"
    assert (out / "test" / recs[0]["roi"]).exists() and recs[0]["frames"] == 100
    assert not (out / "pretrain").exists()


def test_prepare_lrs2_lists_and_missing(lrs2, tmp_path):
    out = tmp_path / "out"
    res = lrs.prepare_lrs2(lrs2, out, splits=("train", "test", "pretrain"))
    assert res["train"].done == 1 and res["pretrain"].done == 1
    assert res["test"].done == 1 and len(res["test"].failed) == 1
    assert "listed in test.txt but missing" in res["test"].failed[0]["error"]
    [rec] = read_jsonl(out / "test" / "manifest.jsonl")
    assert rec["id"] == "6330311066473698535/00011" and rec["text"] == "AND THE SECOND"


def test_shards_partition_and_merge(lrs3, tmp_path):
    out = tmp_path / "out"
    ids = set()
    for i in range(2):
        lrs.prepare_lrs3(lrs3, out, splits=("test",), shard=(i, 2))
        ids |= {r["id"] for r in read_jsonl(out / "test" / f"manifest.shard-{i}-of-2.jsonl")}
    assert ids == {"spkA/00001", "spkB/00002"}
    assert lrs.merge_shards(out / "test") == 2
    assert [r["id"] for r in read_jsonl(out / "test" / "manifest.jsonl")] == ["spkA/00001", "spkB/00002"]


def test_merge_refuses_incomplete(lrs3, tmp_path):
    lrs.prepare_lrs3(lrs3, tmp_path / "o", splits=("test",), shard=(0, 3))
    with pytest.raises(ValueError, match="wait for every shard"):
        lrs.merge_shards(tmp_path / "o" / "test")


@pytest.mark.parametrize(
    "text, expected", [("0/1", (0, 1)), ("2/4", (2, 4)), (" 1 / 3 ", (1, 3)), (None, (0, 1)), ("", (0, 1))]
)
def test_parse_shard(text, expected):
    assert lrs.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["4/4", "a/b", "-1/2"])
def test_parse_shard_rejects(text):
    with pytest.raises(ValueError):
        lrs.parse_shard(text)


def test_script_is_a_thin_wrapper(lrs3, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "data_prep" / "lrs3.py"),
            str(lrs3),
            "-o",
            str(tmp_path / "o"),
            "--splits",
            "test",
            "--shard",
            "0/1",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "test: 2 extracted" in r.stdout
    bad = subprocess.run(
        [sys.executable, str(REPO / "data_prep" / "lrs3.py"), str(tmp_path / "nope"), "-o", str(tmp_path / "o2")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "no such LRS3 split folder" in bad.stderr
