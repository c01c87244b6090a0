import gzip
import json

import pytest

from avsr.core.jsonl import JsonlAppender, read_jsonl, repair, write_jsonl


def test_roundtrip_plain_and_gz(tmp_path):
    recs = [{"id": f"u{i}", "text": "héllo wörld"} for i in range(3)]
    for name in ("m.jsonl", "m.jsonl.gz"):
        assert write_jsonl(tmp_path / name, recs) == 3
        assert list(read_jsonl(tmp_path / name)) == recs
    with gzip.open(tmp_path / "m.jsonl.gz", "rt") as f:
        assert json.loads(f.readline())["id"] == "u0"


def test_cut_short_last_line_is_skipped_and_repaired(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "te')
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b"]
    with JsonlAppender(p) as w:  # opening an appender repairs first
        w.write({"id": "d"})
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b", "d"]
    repair(p)
    assert p.read_text().count("\n") == 3


def test_corrupt_middle_line_raises(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match="m.jsonl:2"):
        list(read_jsonl(p))
