"""The routing table derived from a validation run: a set is routed to only where the paired
comparison on the mixtures the rule would send it shows it clearly better than the frozen model,
and nowhere it is clearly worse or was not measured."""

from __future__ import annotations

import numpy as np
import pytest

from avsr.evaluation.routing import derive_router, router_yaml
from avsr.noise.router import RouterConfig, route


def _lines(rng, n=60):
    """Validation lines: true babble at 5, 0, -5 dB and music at 0 dB. The head's estimate of a
    babble mixture is its SNR minus 3 dB; the babble set removes half the frozen model's errors
    at 0 and -5 dB and adds errors at 5 dB; the music set is worse everywhere."""
    out = []
    for cat, snr in (("babble", 5.0), ("babble", 0.0), ("babble", -5.0), ("music", 0.0)):
        cond = f"{cat} {snr:g} dB"
        for i in range(n):
            words = 10
            frozen = int(rng.integers(1, 6)) + (4 if snr < 1 else 0)
            babble = frozen // 2 if (cat == "babble" and snr < 1) else frozen + 3
            music = frozen + 2
            base = {"id": f"u{i}", "condition": cond, "category": cat, "snr": snr, "ref_words": words}
            for name, e in (("none", frozen), ("babble", babble), ("music", music)):
                out.append(base | {"set": name, "edits": e})
            out.append(base | {"set": "routed", "edits": frozen, "noise_category": cat, "noise_snr": snr - 3.0})
    return out


def test_a_set_is_routed_only_where_it_clearly_wins():
    lines = _lines(np.random.default_rng(0))
    cfg, evidence = derive_router(lines, {"babble": "babble", "music": "music"}, resamples=300)
    by = {e.adapter: e for e in evidence}
    # babble mixtures are estimated at 2, -3, -8 dB: the cut at 2.5 would take the 5 dB ones, where the set loses
    assert by["babble"].chosen and by["babble"].snr_max == 0.0
    assert by["babble"].mixtures == 120 and by["babble"].diff_high < 0
    assert not by["music"].chosen and by["music"].diff_low > 0
    assert [r.adapter for r in cfg.rules] == ["none", "babble"] and cfg.default == "none"
    assert route(cfg, "babble", -3.0, ["babble", "music"]).adapter == "babble"
    assert route(cfg, "babble", 2.0, ["babble", "music"]).adapter == "none"
    assert route(cfg, "music", -20.0, ["babble", "music"]).adapter == "none"
    assert (
        "not chosen by default" in by["music"].describe() and "estimated babble below 0 dB" in by["babble"].describe()
    )
    again = RouterConfig.from_dict(router_yaml(cfg, evidence, "val/utterances.jsonl")["router"])
    assert again == cfg


def test_a_cut_that_reaches_a_condition_where_the_set_loses_is_refused():
    lines = _lines(np.random.default_rng(1))
    for u in lines:  # the head now reads every babble mixture 10 dB low: all under the 0 dB cut
        if u["set"] == "routed" and u["category"] == "babble":
            u["noise_snr"] = u["snr"] - 10.0
    _, evidence = derive_router(lines, {"babble": "babble"}, resamples=300)
    (ev,) = evidence
    assert ev.chosen and ev.snr_max == -5.0  # 5 dB mixtures (estimated -5 dB, not below) stay on the frozen model


def test_an_unsure_head_keeps_the_frozen_model():
    lines = _lines(np.random.default_rng(5))
    for u in lines:  # every babble mixture estimated far below 0 dB, the head unsure only of the 5 dB ones
        if u["set"] == "routed" and u["category"] == "babble":
            u["noise_snr"], u["noise_prob"] = -12.0, 0.4 if u["snr"] == 5.0 else 0.95
    cfg, (ev,) = derive_router(lines, {"babble": "babble"}, resamples=300)
    assert ev.chosen and ev.min_prob == 0.5 and ev.mixtures == 120
    assert "head at least 0.5 sure" in ev.describe()
    assert route(cfg, "babble", -12.0, ["babble"], prob=0.95).adapter == "babble"
    assert route(cfg, "babble", -12.0, ["babble"], prob=0.4).adapter == "none"


def test_mixtures_the_set_was_not_run_on_keep_the_frozen_model():
    lines = [u for u in _lines(np.random.default_rng(2)) if not (u["set"] == "babble" and u["category"] == "music")]
    for u in lines:
        if u["set"] == "routed" and u["category"] == "music":
            u["noise_category"], u["noise_snr"] = "babble", -20.0  # named babble, but the set never ran on music
    _, (ev,) = derive_router(lines, {"babble": "babble"}, resamples=300)
    assert not ev.chosen and ev.unmeasured > 0 and "were not decoded with it" in ev.describe()


def test_missing_systems_are_a_clear_error():
    lines = _lines(np.random.default_rng(3))
    with pytest.raises(ValueError, match="no 'routed' lines"):
        derive_router([u for u in lines if u["set"] != "routed"], {"babble": "babble"})
    with pytest.raises(ValueError, match="no frozen-model"):
        derive_router([u for u in lines if u["set"] != "none"], {"babble": "babble"})
    with pytest.raises(ValueError, match="no lines of the set 'noise'"):
        derive_router(lines, {"noise": "noise"})


def test_the_derived_table_is_written_and_avsr_adapters_prints_it_with_its_evidence(whisper_dir, tmp_path, capsys):
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from avsr.cli import main

    val = tmp_path / "utterances.jsonl"
    val.write_text("".join(json.dumps(u) + "\n" for u in _lines(np.random.default_rng(4))))
    folder = tmp_path / "sets"
    shutil.copytree(whisper_dir / "adapters", folder)
    script = Path(__file__).resolve().parents[2] / "eval" / "router.py"
    r = subprocess.run(
        [sys.executable, script, val, "-o", folder / "router.yaml", "--bootstrap", "300"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "babble: estimated babble below 0 dB" in r.stdout and "music: not chosen by default" in r.stdout
    assert main(["adapters", str(folder), "--router"]) == 0
    out = capsys.readouterr().out
    assert "babble        chosen by rule 1 (estimated babble, SNR < 0 dB, if rule 0 does not match)" in out
    assert "music         never chosen by default (--adapter music)" in out
    assert f"evidence (validation run {val})" in out and "WER frozen" in out
