"""The speech corpus recipe on tiny Debian packages built here with ``dpkg-deb -b`` from the real
speech fixtures (G.722, Ogg and MP3 encoded with PyAV), in the layouts of the real packages:
asterisk prompts + ``name: text`` transcripts, warzone2100's ``base.wz``, tuxpaint stamps,
fillets dialogue, and a ``QTBL`` archive of MP3 speech. Offline."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import subprocess
import wave
import zipfile
from pathlib import Path

import numpy as np
import pytest

from avsr.core.audio import read_audio
from avsr.core.configs import load_yaml
from avsr.core.errors import ConfigError, InputError
from avsr.core.manifest import read_manifest
from avsr.recipes import speech_corpus as sc
from avsr.recipes import speech_sources as ss

FIX = Path(__file__).parents[1] / "fixtures" / "speech"
pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


def encode(x: np.ndarray, fmt: str, codec: str, rate: int) -> bytes:
    """16 kHz float samples as a ``fmt`` file of ``codec`` at ``rate`` Hz (bytes)."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate, layout="mono")
        res = av.AudioResampler(format=s.codec_context.format.name, layout="mono", rate=rate)
        fr = av.AudioFrame.from_ndarray((x * 32767).astype(np.int16)[None], format="s16", layout="mono")
        fr.sample_rate = 16000
        for f in res.resample(fr) + res.resample(None):
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return buf.getvalue()


def deb(tmp: Path, name: str, files: dict[str, bytes]) -> Path:
    root = tmp / "src" / name
    for rel, data in {**files, f"usr/share/doc/{name}/copyright": f"{name} copyright\n".encode()}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n"
    )
    out = tmp / f"{name}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "-Znone", "-b", str(root), str(out)], check=True, capture_output=True)
    return out


def qtbl(entries: list[tuple[str, bytes]]) -> bytes:
    head = b"QTBL" + b"CEM10" + b"\0\0\0\x01" + struct.pack(">H", len(entries))
    off = len(head) + 21 * len(entries)
    table, data = b"", b""
    for name, blob in entries:
        table += name.encode().ljust(12, b"\0") + b"\x01" + struct.pack(">II", off + len(data), len(blob))
        data += blob
    return head + table + data


@pytest.fixture(scope="session")
def debs(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("debs")
    go = read_audio(FIX / "goforward_16k.wav")  # "go forward ten meters"
    some = read_audio(FIX / "something_16k.wav")
    g722 = lambda x: encode(x, "g722", "g722", 16000)  # noqa: E731
    ogg = lambda x: encode(x, "ogg", "libopus", 48000)  # noqa: E731
    mp3 = lambda x: encode(x, "mp3", "libmp3lame", 11025)  # noqa: E731
    snd = "usr/share/asterisk/sounds/en_US_f_Test/"
    lines = (
        "; Core sounds\n\nhello: Go forward ten meters.\ndigits/1: one (note: short)\nbeep: [a beep]\nbroken: Broken.\n"
    )
    js = (
        '{"audio": "tut1.ogg", "clear": false, "message": _("Go forward ten meters"), "state": 0},\n'
        '{"audio": "tut2.ogg", "clear": false, "message": undefined, "state": 0},\n'
    )
    wz = tmp / "base.wz"
    with zipfile.ZipFile(wz, "w") as z:
        z.writestr("script/tutorial.js", js)
        z.writestr("audio/tutorial/tut1.ogg", ogg(go))
        z.writestr("audio/tutorial/tut2.ogg", ogg(some))
    stamps = "usr/share/tuxpaint/stamps/animals/"
    dog = b"\0" * 20 + struct.pack(">hhh", 3, 0, 2) + b"\0" * 20  # talk key 2 at byte 24
    lua = 'dialogId("vit-m-hello", "font_small", "Hello.")\ndialogStr("Ahoj.")\n'
    lua += 'dialogId("vit-v-other", "", "Other.")\ndialogStr("Jin\u00fd.")\n'  # no font: the id's -v- (big fish)
    return {
        "asterisk-core-sounds-en-g722": deb(tmp, "asterisk-core-sounds-en-g722", {
            snd + "hello.g722": g722(go), snd + "digits/1.g722": g722(go[:8000]), snd + "beep.g722": g722(some),
            snd + "untranscribed.g722": g722(some), snd + "broken.g722": b"",  # raw G.722 decodes any bytes
        }),
        "asterisk-core-sounds-en": deb(tmp, "asterisk-core-sounds-en", {
            "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz": gzip.compress(lines.encode()),
        }),
        "warzone2100-data": deb(tmp, "warzone2100-data", {"usr/share/games/warzone2100/base.wz": wz.read_bytes()}),
        "tuxpaint-stamps-default": deb(tmp, "tuxpaint-stamps-default", {
            stamps + "frog.txt": b"A frog.\nfr.utf8=Une grenouille.\n", stamps + "frog_desc.ogg": ogg(some),
            stamps + "frog_desc_fr.ogg": ogg(go), stamps + "frog_desc_ru.ogg": ogg(some[:4000]),
        }),
        "fillets-ng-data-cs": deb(tmp, "fillets-ng-data-cs", {
            "usr/share/games/fillets-ng/sound/city/cs/vit-m-hello.ogg": ogg(go),
            "usr/share/games/fillets-ng/sound/city/cs/vit-v-other.ogg": ogg(some),
        }),
        "fillets-ng-data": deb(tmp, "fillets-ng-data", {
            "usr/share/games/fillets-ng/script/city/dialogs_cs.lua": lua.encode(),
        }),
        "flight-of-the-amazon-queen": deb(tmp, "flight-of-the-amazon-queen", {
            "usr/share/scummvm/flight-of-the-amazon-queen/queen.1c": qtbl([
                ("020001P1.SB", mp3(go)), ("020001J1.SB", b"HDR\0" + mp3(some)), ("JOE00011.SB", mp3(go[:4000])),
                ("C100D212.SB", mp3(some)), ("BAD00001.SB", b"\0" * 300), ("SPARKY1.DOG", dog),
            ]),
        }),
    }  # fmt: skip


def config(debs: dict[str, str]) -> dict:
    cfg = load_yaml(Path(__file__).parents[2] / "configs" / "corpus" / "speech.yaml")
    keep = ("asterisk-en", "warzone2100-tutorial", "tuxpaint-en", "tuxpaint-talkers", "fillets-cs", "amazon-queen")
    return {**cfg, "debs": {k: str(v) for k, v in debs.items()}, "sources": {k: cfg["sources"][k] for k in keep}}


def test_corpus(debs, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    summary = sc.prepare_speech_corpus(config(debs), out, cache)
    en = {r["id"].split("/", 1)[1]: r for r in read_manifest(out / "speech_en.jsonl")}
    assert sorted(en) == ["animals/frog_desc", "digits/1", "hello", "tut1"]
    assert en["hello"]["text"] == "Go forward ten meters."  # raw text, not normalised
    assert en["digits/1"]["text"] == "one"  # the description in brackets is cut off
    assert en["tut1"]["text"] == "Go forward ten meters"
    assert en["animals/frog_desc"]["text"] == "Frog."  # the recordings say the name without the article
    assert {k: r["split"] for k, r in en.items()} == {
        "hello": "train",
        "digits/1": "train",
        "tut1": "test",
        "animals/frog_desc": "test",
    }
    assert en["hello"]["speaker"] == "en_US_f_Test" and en["hello"]["version"] == "1.0-1"
    with wave.open(en["hello"]["audio"]) as w:  # read_manifest resolved it against OUT
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
    assert abs(en["hello"]["seconds"] - len(read_audio(FIX / "goforward_16k.wav")) / 16000) < 0.05
    rel = json.loads((out / "speech_en.jsonl").read_text().splitlines()[0])["audio"]
    assert rel.startswith("audio/speech/") and (out / rel).is_file()

    talk = {r["id"].split("/", 1)[1]: r for r in read_manifest(out / "talkers.jsonl")}
    assert sorted(talk) == ["animals/frog_desc_fr", "city/cs/vit-m-hello", "city/cs/vit-v-other"]  # ru < 0.8 s
    assert all(
        r["category"] == "speech" and r["split"] == "train" and r["start"] == r["end"] == 0.0 for r in talk.values()
    )
    assert (
        talk["city/cs/vit-m-hello"]["speaker"] == "fillets-cs/small" and talk["city/cs/vit-m-hello"]["text"] == "Ahoj."
    )
    assert talk["city/cs/vit-v-other"]["speaker"] == "fillets-cs/big" and talk["city/cs/vit-v-other"]["text"] == "Jiný."
    assert (
        talk["animals/frog_desc_fr"]["language"] == "fr" and talk["animals/frog_desc_fr"]["text"] == "Une grenouille."
    )

    un = {r["id"].split("/", 1)[1]: r for r in read_manifest(out / "speech_untranscribed.jsonl")}
    # JOE00011 < 1 s, BAD00001 not MP3, C100D212 a cutaway line (several voices: in no split)
    assert sorted(un) == ["020001J1", "020001P1"]
    assert (un["020001P1"]["speaker"], un["020001J1"]["speaker"]) == ("sparky", "joe")
    assert "text" not in un["020001P1"] and un["020001P1"]["split"] == un["020001J1"]["split"] == "train"

    src = summary["sources"]
    assert (src["asterisk-en"]["bad"], src["amazon-queen"]["bad"], src["amazon-queen"]["out_of_range"]) == (1, 0, 1)
    assert src["amazon-queen"]["excluded_speakers"] == 2  # C100D212 (cutaway), BAD00001 (other): not decoded
    assert sorted(p.name for p in (out / "copyright").iterdir()) == sorted(debs)
    rows = json.loads((out / "speech_summary.json").read_text())["rows"]
    assert {(r["manifest"], r["split"], r["package"]): r["clips"] for r in rows}[
        ("speech_en", "train", "asterisk-core-sounds-en-g722")
    ] == 2
    assert "speech_en" in sc.format_summary(rows)

    # resume: a rerun skips finished sources and rewrites the manifests without duplicates
    lines = {m: (out / f"{m}.jsonl").read_text() for m in sc.MANIFESTS}
    (out / sc.PARTS / "tuxpaint-en.done").unlink()  # as if killed before the marker
    wav = out / en["hello"]["audio"]
    stamp = wav.stat().st_mtime_ns
    again = sc.prepare_speech_corpus(config(debs), out, cache, only=["tuxpaint-en", "asterisk-core-sounds-en-g722"])
    assert {m: (out / f"{m}.jsonl").read_text() for m in sc.MANIFESTS} == lines
    assert again["sources"]["asterisk-en"]["resumed"] and not again["sources"]["tuxpaint-en"].get("resumed")
    assert wav.stat().st_mtime_ns == stamp


def test_caps_spread_over_speakers_and_key_lists(debs, tmp_path):
    cfg = config(debs)
    en = {**cfg["sources"]["asterisk-en"]}
    cfg["sources"] = {
        "q": {**cfg["sources"]["amazon-queen"], "max_clips": 2},
        "a": {**en, "keep_keys": ["hello", "digits/1"], "exclude_keys": ["digits/1"]},
    }
    sc.prepare_speech_corpus(cfg, tmp_path / "out", tmp_path / "cache")
    recs = read_manifest(tmp_path / "out" / "speech_untranscribed.jsonl")
    assert len(recs) == 2 and len({r["speaker"] for r in recs}) == 2
    assert [r["id"] for r in read_manifest(tmp_path / "out" / "speech_en.jsonl")] == [
        "asterisk-core-sounds-en-g722/hello"
    ]


def test_speaker_split_no_voice_in_two_splits(debs, tmp_path):
    cfg = config(debs)
    q = cfg["sources"]["amazon-queen"]
    sc.check_config({"sources": {"q": q}})  # the shipped split: every voice in one split
    lists = [set(q[k]) for k in sc.SPEAKER_LISTS]
    assert all(a.isdisjoint(b) for i, a in enumerate(lists) for b in lists[i + 1 :])
    split = {sp: sc.speaker_split(q, sp) for v in q["voices"].values() for sp in v}
    assert split["joe"] == "train" and {"train", "val", "test"} == set(split.values())
    for v in q["voices"].values():
        assert len({split[sp] for sp in v}) == 1
    cfg["sources"] = {"q": {**q, "voices": {"A": ["joe"], "B": ["sparky"]}, "val_speakers": ["sparky"],
                            "test_speakers": [], "exclude_speakers": ["other"]}}  # fmt: skip
    sc.prepare_speech_corpus(cfg, tmp_path / "out", tmp_path / "cache")
    recs = read_manifest(tmp_path / "out" / "speech_untranscribed.jsonl")
    assert {r["speaker"]: r["split"] for r in recs} == {"sparky": "val", "joe": "train"}  # cutaway: no voice
    rows = json.loads((tmp_path / "out" / "speech_summary.json").read_text())["rows"]
    assert sorted(r["split"] for r in rows) == ["train", "val"]
    bad = [
        (
            {"val_speakers": ["sparky"], "test_speakers": ["sparky"]},
            "'sparky' is in both val_speakers and test_speakers",
        ),
        ({"exclude_speakers": ["joe"], "test_speakers": ["joe"]}, "in both"),
        ({"voices": {"A": ["joe", "sparky"]}, "test_speakers": ["sparky"]}, "voice 'A' is in several splits"),
        ({"voices": {"A": ["joe"], "B": ["joe"]}}, "two voices"),
        ({"voices": {"A": ["joe"]}, "test_speakers": ["sparky"]}, "without a voice"),
    ]
    for change, msg in bad:
        base = {k: v for k, v in q.items() if k not in ("voices", *sc.SPEAKER_LISTS)}
        with pytest.raises(ConfigError, match=msg):
            sc.check_config({"sources": {"q": {**base, **change}}})


def test_choose_speakers_whole_voices_fewest_first():
    clips = {"a1": 5, "a2": 5, "b": 30, "c": 20, "d": 50, "joe": 500}
    voices = {"A": ["a1", "a2"], "B": ["b"], "C": ["c"], "D": ["d"], "Joe": ["joe"]}
    got = sc.choose_speakers(clips, {"test": 25, "val": 20}, voices, keep=["Joe"])
    assert got == {"test": ["a1", "a2", "c"], "val": ["b"], "train": ["d", "joe"]}
    assert got == sc.choose_speakers(dict(reversed(clips.items())), {"test": 25, "val": 20}, voices, keep=["Joe"])


def test_spread_round_robin():
    clip = lambda k, s: ss.Clip(k, k, s, "en", bytes, ".wav")  # noqa: E731
    order = sc.spread([clip("a1", "a"), clip("a2", "a"), clip("a3", "a"), clip("b1", "b")], seed=0)
    assert [c.speaker for c in order] == ["a", "b", "a", "a"]
    assert [c.key for c in order] == [c.key for c in sc.spread(list(reversed(order)), seed=0)]


def test_parsers(tmp_path):
    assert ss.spoken_text("letters/at [@]") == "letters/at"
    assert ss.spoken_text("(10 seconds of silence)") == "" and ss.spoken_text("<beep ascending>") == ""
    assert ss.mp3_payload(b"ID\0\xff\xe3\x20") == b"\xff\xe3\x20"
    with pytest.raises(InputError):
        ss.mp3_payload(b"\0" * 10)
    (tmp_path / "x.1c").write_bytes(b"RIFF" + b"\0" * 40)
    with pytest.raises(InputError, match="not a QTBL"):
        ss.read_qtbl(tmp_path / "x.1c")
    (tmp_path / "y.1c").write_bytes(qtbl([("A.SB", b"abc")])[:-1])
    with pytest.raises(InputError, match="past the end"):
        ss.read_qtbl(tmp_path / "y.1c")
    assert ss.queen_speaker("05SSSSJ1", {}) == "joe" and ss.queen_speaker("07XXXXP1", {}) == "person07"


def test_config_errors(debs, tmp_path):
    cfg = config(debs)
    with pytest.raises(ConfigError, match="reader"):
        sc.prepare_speech_corpus({"sources": {"x": {"reader": "nope"}}}, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="unknown key"):
        sc.check_config({"sources": {"x": {**cfg["sources"]["asterisk-en"], "colour": 1}}})
    with pytest.raises(ConfigError, match="--only"):
        sc.prepare_speech_corpus(cfg, tmp_path, tmp_path, only=["nothing-here"])


def test_script(debs, tmp_path, monkeypatch, capsys):
    import runpy

    import yaml

    cfg = config(debs)
    cfg["sources"] = {"warzone2100-tutorial": cfg["sources"]["warzone2100-tutorial"]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    script = Path(__file__).parents[2] / "data_prep" / "speech_corpus.py"
    argv = [str(script), "-o", str(tmp_path / "out"), "--config", str(tmp_path / "c.yaml"), "--cache", str(tmp_path)]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(script), run_name="__main__")
    assert e.value.code == 0
    assert "warzone2100-data" in capsys.readouterr().out
    monkeypatch.setattr("sys.argv", argv + ["--only", "no-such-source"])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(script), run_name="__main__")
    assert e.value.code == 2
