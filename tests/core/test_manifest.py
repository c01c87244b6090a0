"""The manifest record and its one path rule (avsr/core/manifest.py)."""

from __future__ import annotations

import os

import pytest

from avsr.core.errors import InputError
from avsr.core.jsonl import write_jsonl
from avsr.core.manifest import ManifestRecord, read_manifest, resolve_path


def test_record_round_trip_keeps_extra_fields():
    line = {
        "id": "spk/utt",
        "roi": "spk/utt.roi.mkv",
        "text": "the cat",
        "frames": 50,
        "split": "test",
        "category": "music",
    }
    rec = ManifestRecord.from_dict(line)
    assert rec.id == "spk/utt" and rec.frames == 50 and rec.extra == {"split": "test", "category": "music"}
    assert rec.to_dict() == line


def test_record_refuses_wrong_types():
    with pytest.raises(InputError, match="'frames' should be int"):
        ManifestRecord.from_dict({"id": "a", "frames": "50"})
    with pytest.raises(InputError, match="without an 'id'"):
        ManifestRecord.from_dict({"text": "x"})


def test_path_rule(tmp_path, monkeypatch):
    base = tmp_path / "manifests"
    (base / "clips").mkdir(parents=True)
    (base / "clips" / "a.wav").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "b.wav").write_bytes(b"")
    assert resolve_path(base, "clips/a.wav") == str(base / "clips" / "a.wav")  # beside the manifest
    assert resolve_path(base, "data/b.wav") == "data/b.wav"  # only under the working directory
    assert resolve_path(base, "missing.wav") == str(base / "missing.wav")  # neither: the manifest's folder
    assert resolve_path(base, "/abs/c.wav") == "/abs/c.wav"
    assert resolve_path(None, "x.wav") == "x.wav"


def test_read_manifest_resolves_checks_and_limits(tmp_path):
    m = tmp_path / "m" / "manifest.jsonl"
    write_jsonl(m, [{"id": "a", "audio": "a.wav", "text": "hi"}, {"id": "b", "audio": "b.wav"}])
    recs = read_manifest(m, limit=1)
    assert len(recs) == 1 and recs[0]["audio"] == os.path.join(str(m.parent), "a.wav")
    with pytest.raises(InputError, match="1 of 2 lines have no 'text' \\(first: b\\)"):
        read_manifest(m, need=("text",))
    with pytest.raises(InputError, match="no such manifest"):
        read_manifest(tmp_path / "none.jsonl")
