"""The noise head and adapter sets that ship for Whisper base: registered with their sha256,
small, loaded offline, and used by `avsr transcribe` by default."""

import json

import numpy as np
import pytest
from avtools import FIXTURES

from avsr.core.registry import REGISTRY, registry, shipped, verified_files

SETS = {"babble", "music", "noise", "sidespeaker"}


def test_registered_with_checksums_and_small():
    entries = {n: e for n, e in registry().items() if e["kind"] in ("adapter-sets", "noise-head")}
    assert {e["kind"] for e in entries.values()} == {"adapter-sets", "noise-head"}
    total = 0
    for name, e in entries.items():
        assert e["whisper"] == "whisper-base" and e["trained_with"] and e["licence"]
        total += sum(p.stat().st_size for p in verified_files(name))  # raises on a sha256 mismatch
    assert total < 20 * 2**20
    folder = shipped("adapter-sets", "whisper-base")
    assert {p.name for p in folder.iterdir() if p.is_dir()} == SETS
    assert shipped("adapter-sets", "whisper-tiny.en") is None


def test_changed_file_is_refused(tmp_path, monkeypatch):
    import shutil

    import avsr.core.registry as reg
    from avsr.core.errors import CheckpointError

    root = tmp_path / "repo"
    shutil.copytree(REGISTRY.parent, root / "checkpoints")
    head = root / "checkpoints" / "whisper-base" / "noise-head" / "model.safetensors"
    head.write_bytes(head.read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(reg, "REGISTRY", root / "checkpoints" / "registry.yaml")
    reg.registry.cache_clear()
    try:
        with pytest.raises(CheckpointError, match="sha256"):
            reg.shipped("noise-head", "whisper-base")
    finally:
        reg.registry.cache_clear()


def test_sets_describe_themselves():
    from avsr.adapters.sets import list_sets

    sets = dict(list_sets(shipped("adapter-sets", "whisper-base")))
    assert set(sets) == SETS
    for name, meta in sets.items():
        assert meta["modality"] == "audio" and meta["noise"]["categories"] == [name]
        assert meta["whisper"]["name"] == "whisper-base" and meta["whisper"]["d_model"] == 512
        assert meta["trained_with"]["lora"]["skip_encoder_layers"] == 3


def test_transcribe_uses_them_by_default(tmp_path):
    """A noisy clip: the record names the noise class and the set; --adapter none keeps the
    frozen model (the classifier still reports the noise)."""
    from avsr.cli import main
    from avsr.core.audio import read_audio, write_wav
    from avsr.data.mixing import mix

    speech = read_audio(FIXTURES / "goforward_16k.wav")
    rng = np.random.default_rng(0)
    talkers = sum(np.roll(speech, int(rng.integers(len(speech)))) for _ in range(6))
    wav = tmp_path / "noisy.wav"
    write_wav(wav, np.clip(mix(speech, talkers, 0.0), -1, 1))
    for extra, out in (([], tmp_path / "auto.jsonl"), (["--adapter", "none"], tmp_path / "none.jsonl")):
        assert main(["transcribe", str(wav), "-o", str(out), *extra]) == 0
        rec = json.loads(out.read_text().splitlines()[0])
        assert rec["noise"]["category"] in ("clean", *SETS) and isinstance(rec["noise"]["snr"], float)
        if extra:
            assert rec["adapter"] == "none"
        else:
            assert rec["adapter"] in ("none", *SETS) and "noise-head" in json.dumps(rec["model"])
            assert "router.yaml" in json.dumps(rec["model"])


def test_sets_come_with_their_routing_table():
    """The shipped router.yaml is used with the shipped sets: a set only where held-out evidence
    shows a clear gain (babble and side speaker below an estimated -5 dB, a true -5 dB); never the
    noise set (the head calls unseen babble and rain "noise", where that set lost) nor music."""
    from avsr.noise.router import RouterConfig, route, sets_router

    table = sets_router(shipped("adapter-sets", "whisper-base"))
    assert table is not None and table.name == "router.yaml"
    rc = RouterConfig.from_yaml(table)
    snrs = (20.0, 5.0, 0.0, -5.0, -8.0)
    pick = {(c, s): route(rc, c, s, SETS).adapter for c in ("clean", *SETS) for s in snrs}
    assert all(pick[(c, s)] == "none" for c in ("clean", *SETS) for s in (20.0, 5.0, 0.0, -5.0))
    assert pick[("babble", -8.0)] == "babble" and pick[("sidespeaker", -8.0)] == "sidespeaker"
    assert pick[("noise", -8.0)] == "none" and pick[("music", -8.0)] == "none" and pick[("clean", -8.0)] == "none"


def test_default_equals_frozen_at_0_db_and_above_on_unseen_noise(tmp_path):
    """A default is never worse than the frozen model: real speech mixed at 0, 5 and 10 dB with
    real recordings the sets were not trained on (MUSAN noise and music, a field ambience, and
    babble of four other fixture talkers) gets the frozen model's words from the default."""
    from avsr.core.audio import read_audio, write_wav
    from avsr.data.mixing import fit_length, mix
    from avsr.recognizers.load import load_recognizer

    speech = read_audio(FIXTURES / "speech" / "pocketsphinx_librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    noises = {p.stem: read_audio(p) for p in sorted((FIXTURES / "noise").iterdir())}
    talkers = [read_audio(p) for p in sorted((FIXTURES / "speech" / "cmu_arctic").glob("*.wav"))]
    talkers += [read_audio(FIXTURES / "speech" / n) for n in ("goforward_16k.wav", "something_16k.wav")]
    noises["babble"] = sum(fit_length(t, len(speech), 0) for t in talkers[:4])
    paths = []
    for name, noise in noises.items():
        for snr in (10.0, 5.0, 0.0):
            p = tmp_path / f"{name}_{snr:+.0f}dB.wav"
            write_wav(p, mix(speech, fit_length(noise, len(speech), 0), snr))
            paths.append(p)
    default, frozen = load_recognizer(), load_recognizer(adapter="none")
    for p in paths:
        got = default.transcribe(p)
        assert got.adapter == "none", (p.name, got.noise, got.route)
        assert got.text == frozen.transcribe(p).text, p.name
