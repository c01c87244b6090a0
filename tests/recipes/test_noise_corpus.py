"""The noise-corpus recipe on two tiny .deb packages built here from the real clips in
tests/fixtures/noise (offline: ``deb_file`` in the config instead of ``apt-get download``)."""

from __future__ import annotations

import json
import logging
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from avsr.core.audio import read_audio, write_wav
from avsr.core.errors import ConfigError, UsageError
from avsr.core.manifest import read_manifest
from avsr.data.mixing import NoiseBank, NoiseConfig
from avsr.recipes import noise_corpus
from avsr.recipes.noise_config import load_config
from avsr.recipes.noise_corpus import prepare_noise_corpus
from avsr.recipes.packages import read_cat_members

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
FIX = Path(__file__).parents[1] / "fixtures" / "noise"
MUSIC = FIX / "music_Kevin_MacLeod_Vibe_Ace_CC-BY-3.0.ogg"  # 61.5 s, 44.1 kHz
AMBIENCE = FIX / "ambience_train_SDLx_freesound259988.ogg"  # 116 s, 44.1 kHz
FREE = FIX / "musan_noise-free-sound-0043_espnet.wav"  # 1.53 s, 16 kHz
BIBLE = FIX / "musan_noise-sound-bible-0001_espnet.wav"  # 2.06 s, 16 kHz


def _deb(folder: Path, name: str, files: dict[str, bytes]) -> Path:
    root = folder / name
    for rel, data in {**files, f"usr/share/doc/{name}/copyright": f"{name}: CC0 test data\n".encode()}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: avsr <a@b.c>\nDescription: test\n"
    )
    deb = folder / f"{name}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "-b", str(root), str(deb)], check=True,
                   capture_output=True)  # fmt: skip
    return deb


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("debs")
    bible = read_audio(BIBLE)
    tmp = d / "tmp"
    tmp.mkdir()
    write_wav(tmp / "quiet.wav", read_audio(FREE) * 1e-4)  # about -100 dBFS: dropped as silent
    write_wav(tmp / "tiny.wav", bible[:8000])  # 0.5 s: dropped as short
    write_wav(tmp / "louder.wav", read_audio(FREE) * 0.5)
    import av  # the same samples as BIBLE in another container: a duplicate by decoded audio

    with av.open(str(tmp / "bible.flac"), "w") as c:
        s = c.add_stream("flac", rate=16000, layout="mono")
        pcm = np.clip(bible * 32768, -32768, 32767).round().astype("<i2")[None]  # read_audio gave pcm / 32768
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 16000
        for p in (*s.encode(frame), *s.encode(None)):
            c.mux(p)
    pk3 = tmp / "sounds.pk3"
    with zipfile.ZipFile(pk3, "w") as z:
        z.write(tmp / "louder.wav", "ambient/louder.wav")
    a = _deb(d, "avsr-fixture-a", {
        "usr/share/a/music/vibe_ace.ogg": MUSIC.read_bytes(),
        "usr/share/a/sounds/free.wav": FREE.read_bytes(),
        "usr/share/a/sounds/bible.wav": BIBLE.read_bytes(),
        "usr/share/a/sounds/bible_copy.wav": BIBLE.read_bytes(),
        "usr/share/a/sounds/bible.flac": (tmp / "bible.flac").read_bytes(),
        "usr/share/a/sounds/quiet.wav": (tmp / "quiet.wav").read_bytes(),
        "usr/share/a/sounds/tiny.wav": (tmp / "tiny.wav").read_bytes(),
        "usr/share/a/sounds/broken.ogg": b"this is not an ogg file\n" * 100,
        "usr/share/a/sounds/voice_desc.wav": BIBLE.read_bytes()[:-2],
        "usr/share/a/data/sounds.pk3": pk3.read_bytes(),
    })  # fmt: skip
    b = _deb(
        d, "avsr-fixture-b", {"usr/share/b/vibe.ogg": MUSIC.read_bytes(), "usr/share/b/amb.ogg": AMBIENCE.read_bytes()}
    )
    cfg = d / "noise.yaml"
    cfg.write_text(f"""
packages:
  - name: avsr-fixture-a
    deb_file: {a.name}
    licence: CC0
    select:
      - {{glob: "usr/share/a/music/*.ogg", category: music, subcategory: pop, split: train}}
      - {{glob: ["usr/share/a/sounds/*", "*.pk3::ambient/*.wav"], category: noise, subcategory: misc, split: train,
          exclude: ["*_desc*"]}}
  - name: avsr-fixture-b
    deb_file: {b.name}
    licence: MIT
    max_file_seconds: 40
    select:
      - {{glob: "usr/share/b/vibe.ogg", category: music, split: test}}
      - {{glob: "usr/share/b/amb.ogg", category: noise, subcategory: traffic, split: test}}
""")
    return cfg


def _build(tmp_path: Path, config: Path, **kw):
    return prepare_noise_corpus(tmp_path / "out", config, tmp_path / "cache", progress=False, **kw)


def test_builds_pieces_manifest_and_licences(tmp_path, config, caplog):
    with caplog.at_level(logging.WARNING):
        summary = _build(tmp_path, config)
    out = tmp_path / "out"
    assert any("broken.ogg" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)
    recs = [json.loads(x) for x in (out / "noise_sources.jsonl").read_text().splitlines()]
    by_id = {r["id"]: r for r in recs}
    # 61.5 s of music: two 30 s pieces, the 1.5 s rest dropped; 40 s (max_file_seconds) of ambience: 30 + 10
    assert sorted(by_id) == sorted([
        "music/avsr-fixture-a/music_vibe_ace_000", "music/avsr-fixture-a/music_vibe_ace_001",
        "noise/avsr-fixture-a/sounds_bible_000", "noise/avsr-fixture-a/sounds_free_000",
        "noise/avsr-fixture-a/louder_000",
        "noise/avsr-fixture-b/amb_000", "noise/avsr-fixture-b/amb_001",
    ])  # fmt: skip
    assert [by_id[f"noise/avsr-fixture-b/amb_00{i}"]["seconds"] for i in (0, 1)] == [30.0, 10.0]
    r = by_id["music/avsr-fixture-a/music_vibe_ace_001"]
    assert r["audio"] == "audio/music/avsr-fixture-a/music_vibe_ace_001.wav"
    assert (r["category"], r["subcategory"], r["split"], r["package"], r["version"]) == (
        "music", "pop", "train", "avsr-fixture-a", "1.0-1")  # fmt: skip
    assert (r["registry"], r["file"], r["licence"], r["source_rate"]) == (
        "deb", "usr/share/a/music/vibe_ace.ogg", "CC0", 44100)  # fmt: skip
    assert (r["start"], r["end"], r["seconds"], r["source_start"]) == (0.0, 0.0, 30.0, 30.0)
    assert by_id["noise/avsr-fixture-a/louder_000"]["file"] == "usr/share/a/data/sounds.pk3::ambient/louder.wav"
    assert by_id["noise/avsr-fixture-a/sounds_free_000"]["source_rate"] == 16000
    # decoded 16 kHz mono, same samples as the source
    a = read_audio(out / by_id["noise/avsr-fixture-a/sounds_free_000"]["audio"])
    np.testing.assert_allclose(a, read_audio(FREE), atol=1e-4)
    # split by package: every package in one split; the byte-identical music in b is a duplicate of a's
    assert {r["split"] for r in recs if r["package"] == "avsr-fixture-a"} == {"train"}
    assert {r["split"] for r in recs if r["package"] == "avsr-fixture-b"} == {"test"}
    sk = summary["stats"]
    assert sk["avsr-fixture-a"] == {
        "files": 4, "pieces": 5, "duplicate": 2, "silent": 1, "short": 1, "bad": 1, "capped": 0}  # fmt: skip
    assert sk["avsr-fixture-b"]["duplicate"] == 1
    assert (out / "copyright" / "avsr-fixture-a").read_text() == "avsr-fixture-a: CC0 test data\n"
    assert (out / "copyright" / "avsr-fixture-b").is_file()
    tot = {(t["category"], t["split"]): t for t in summary["totals"]}
    assert tot[("music", "train")]["minutes"] == 1.0 and tot[("noise", "test")]["packages"] == 1
    assert json.loads((out / "noise_summary.json").read_text())["totals"] == summary["totals"]
    assert "total (1 package)" in noise_corpus.format_table(summary)
    # the consumer reads it with the one manifest path rule, from any working directory
    test = read_manifest(out / "noise_sources.jsonl")
    bank = NoiseBank(test, NoiseConfig(categories=("noise",), split="test"))
    noise, desc = bank.draw("utt1", read_audio(BIBLE))
    assert desc["category"] == "noise" and len(noise) == len(read_audio(BIBLE))


def test_resume_only_and_interrupted_package(tmp_path, config, monkeypatch):
    _build(tmp_path, config)
    out = tmp_path / "out"
    manifest = (out / "noise_sources.jsonl").read_text()
    calls = []
    real = noise_corpus._build_package
    monkeypatch.setattr(noise_corpus, "_build_package", lambda spec, *a: calls.append(spec.name) or real(spec, *a))
    _build(tmp_path, config)  # everything done: no work, same manifest
    assert calls == [] and (out / "noise_sources.jsonl").read_text() == manifest
    _build(tmp_path, config, only=["avsr-fixture-b"])  # rebuilt alone, no duplicated records
    assert calls == ["avsr-fixture-b"] and (out / "noise_sources.jsonl").read_text() == manifest
    (out / "parts" / "noise" / "avsr-fixture-a.done.json").unlink()  # as if killed while building a
    stale = out / "audio" / "noise" / "avsr-fixture-a" / "stale_000.wav"
    stale.write_bytes(b"")
    _build(tmp_path, config)
    assert calls == ["avsr-fixture-b", "avsr-fixture-a"] and not stale.exists()
    assert (out / "noise_sources.jsonl").read_text() == manifest
    with pytest.raises(UsageError, match="nope"):
        _build(tmp_path, config, only=["nope"])


def test_config_errors(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("packages:\n  - name: x\n    select:\n      - {glob: a, category: music, split: train}\n"
                   "      - {glob: b, category: noise, split: test}\n")  # fmt: skip
    with pytest.raises(ConfigError, match="both splits"):
        load_config(bad)
    bad.write_text("packages:\n  - name: x\n    registry: pypi\n    select: [{glob: a, category: music}]\n")
    with pytest.raises(ConfigError, match="pinned version"):
        load_config(bad)
    bad.write_text("packages:\n  - name: x\n    select: [{glob: a, category: speech}]\n")
    with pytest.raises(ConfigError, match="category"):
        load_config(bad)
    cfg = load_config(Path(__file__).parents[2] / "configs" / "corpus" / "noise.yaml")
    for cat in ("music", "noise", "crowd"):
        for split in ("train", "test"):
            n = {p.name for p in cfg.packages if any(s.category == cat and s.split == split for s in p.select)}
            assert len(n) >= (2 if split == "train" else 1), (cat, split, n)


def test_openttd_cat_table(tmp_path):
    wav = BIBLE.read_bytes()
    names = [b'"Ship horn". By A. License: CC0.\x00', b'"Applause". By B.\x00']
    table_len = 8 * len(names)
    body, offs = b"", []
    for n in names:
        offs.append((table_len + len(body) | 0x80000000 * (not body), 1 + len(n) + len(wav)))
        body += bytes([len(n)]) + n + wav
    cat = tmp_path / "x.cat"
    cat.write_bytes(b"".join(struct.pack("<II", o, s) for o, s in offs) + body)
    got = list(read_cat_members(cat, ["*applause*"]))
    assert [n for n, _ in got] == ["001_applause.wav"] and got[0][1] == wav
