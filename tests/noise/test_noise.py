"""Noise mixing at an exact SNR, noise sources and splits, the noise classifier, the router."""

import numpy as np
import pytest
import torch
from avtools import FIXTURES

from avsr.core.audio import read_audio
from avsr.data.mixing import NoiseBank, NoiseConfig, mix, scale_to_snr, snr_db
from avsr.noise.logmel_classifier import NoiseClassifier, NoiseClassifierConfig
from avsr.noise.router import RouterConfig, Rule, route
from avsr.recipes.audio import noise_records, speech_records, split_by_group


def _sources():
    n = FIXTURES / "noise"
    recs = noise_records(
        {"noise": sorted(n.glob("*musan*")) + sorted(n.glob("ambience*")), "music": sorted(n.glob("music*"))}
    )
    speech = split_by_group(speech_records(FIXTURES / "speech"), "speaker", 0.3)
    return recs + [
        {"id": r["id"], "audio": r["audio"], "category": "speech", "split": r["split"]} for r in speech
    ], speech


@pytest.mark.parametrize("snr", [-10.0, -5.0, 0.0, 5.0, 10.0, 30.0])
def test_mix_hits_the_requested_snr(snr):
    speech = read_audio(FIXTURES / "goforward_16k.wav")
    noise = read_audio(FIXTURES / "noise" / "musan_noise-sound-bible-0001_espnet.wav")
    noise = np.resize(noise, len(speech))
    m = mix(speech, noise, snr)
    assert abs(snr_db(speech, m - speech) - snr) < 0.1
    assert abs(snr_db(speech, scale_to_snr(speech, noise, snr)) - snr) < 1e-6
    with pytest.raises(ValueError, match="silent"):
        scale_to_snr(speech, np.zeros_like(speech), 0.0)


def test_splits_are_disjoint():
    sources, speech = _sources()
    for cat in ("noise", "speech"):
        train = {r["audio"] for r in sources if r["category"] == cat and r["split"] == "train"}
        test = {r["audio"] for r in sources if r["category"] == cat and r["split"] == "test"}
        assert train and test and not train & test
    music = [r for r in sources if r["category"] == "music"]  # one recording: disjoint time regions
    assert {r["split"] for r in music} == {"train", "test"} and music[0]["end"] == music[1]["start"]
    assert not {r["speaker"] for r in speech if r["split"] == "train"} & {
        r["speaker"] for r in speech if r["split"] == "test"
    }
    assert len(speech) == 14 and all(r["text"] for r in speech)


def test_bank_is_seeded_per_utterance_and_exact():
    sources, speech = _sources()
    bank = NoiseBank(sources, NoiseConfig(split="test", snr=(-5, 10), seed=3))
    a = read_audio(speech[0]["audio"])
    m1, i1 = bank.corrupt(speech[0]["id"], a)
    m2, i2 = bank.corrupt(speech[0]["id"], a)
    assert np.array_equal(m1, m2) and i1 == i2
    assert abs(snr_db(a, m1 - a) - i1["snr"]) < 0.1
    seen = {bank.corrupt(f"u{i}", a)[1]["category"] for i in range(40)}
    assert seen == {"babble", "music", "noise", "sidespeaker"}
    for cat in ("babble", "sidespeaker", "music", "noise"):
        m, info = bank.corrupt("x", a, category=cat, snr=0.0)
        assert {k: info[k] for k in ("category", "snr")} == {"category": cat, "snr": 0.0}
        assert abs(snr_db(a, m - a)) < 0.1
        kind = "speech" if cat in ("babble", "sidespeaker") else cat  # where the noise came from
        of_kind = {str(r.get("package") or r["id"]) for r in sources if r["category"] in (kind, "crowd")}
        assert info["packages"] and set(info["packages"]) <= of_kind
    with pytest.raises(ValueError, match="no 'music' sources"):
        NoiseBank([r for r in sources if r["category"] != "music"], NoiseConfig())


def test_classifier_ignores_padding_and_predicts():
    torch.manual_seed(0)
    model = NoiseClassifier(NoiseClassifierConfig(dim=32, depth=1, heads=2, ffn=64)).eval()
    a = read_audio(FIXTURES / "goforward_16k.wav")[:16000]
    mel = model.features(a)[None]
    padded = torch.cat([mel, torch.randn(1, 80, 50)], -1)
    with torch.no_grad():
        l1, s1 = model(mel)
        l2, s2 = model(padded, torch.tensor([mel.shape[-1]]))
    assert torch.allclose(l1, l2, atol=1e-5) and torch.allclose(s1, s2, atol=1e-4)
    out = model.predict(a)
    assert out["category"] in model.cfg.classes and abs(sum(out["probs"].values()) - 1) < 1e-3


def test_router_rules_and_missing_sets():
    cfg = RouterConfig(
        (
            Rule("none", category="clean"),
            Rule("snr-high", snr_min=20),
            Rule("babble", category="babble"),
            Rule("snr-low", snr_max=5),
        ),
        "none",
    )
    assert route(cfg, "babble", 25, ["snr-high", "babble"]).adapter == "snr-high"
    assert route(cfg, "babble", 10, ["snr-high", "babble"]).adapter == "babble"
    d = route(cfg, "music", 0, ["babble"])
    assert d.adapter == "none" and d.skipped == ["snr-low"] and d.rule is None
    assert route(cfg, "clean", 40, ["babble"]).adapter == "none"
    assert (
        RouterConfig.from_dict({"rules": [{"category": "music", "adapter": "music"}], "default": "none"})
        .rules[0]
        .adapter
        == "music"
    )
    with pytest.raises(ValueError, match="rule 0"):
        RouterConfig.from_dict({"rules": [{"categ": "music", "adapter": "m"}]})
