"""What the noise head is chosen and trained with so that it names noise it never heard: the
recording-channel augmentation (real room impulse responses, EQ, band limits, codecs, levels)
and the leave-one-package-out accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from avsr.core.audio import read_audio
from avsr.data.channel import ChannelConfig, apply_channel, band_limit, mu_law_round_trip, reverberate
from avsr.noise.head_torch import WhisperNoiseConfig
from avsr.train.base import OptimConfig
from avsr.train.noise_head import HeadDataConfig, NoiseHeadTrainConfig
from avsr.train.noise_lopo import leave_one_package_out

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RIRS = tuple(str(p) for p in sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "rir").glob("*.wav")))


def _speech() -> np.ndarray:
    return read_audio(FIXTURES / "goforward_16k.wav")[:32000]


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    f = np.fft.rfftfreq(len(x), 1 / 16000)
    s = np.abs(np.fft.rfft(x)) ** 2
    return float(s[(f >= lo) & (f < hi)].sum() / s.sum())


def test_channel_is_seeded_keeps_the_length_and_changes_the_recording():
    x = _speech()
    cfg = ChannelConfig(room_prob=1.0, rirs=RIRS, eq_prob=1.0, band_prob=1.0, codec_prob=1.0, level_prob=1.0)
    a, done = apply_channel(x, np.random.default_rng(7), cfg)
    b, again = apply_channel(x, np.random.default_rng(7), cfg)
    assert np.array_equal(a, b) and done == again and len(a) == len(x) and a.dtype == np.float32
    assert [t for t in done if t in ("room", "eq", "band")] == (["room"] if RIRS else []) + ["eq", "band"]
    assert np.abs(a).max() <= 1.0 and not np.allclose(a, x)
    none, nothing = apply_channel(
        x, np.random.default_rng(7), ChannelConfig(0, (), 0, 6, 0, codec_prob=0, level_prob=0)
    )
    assert nothing == [] and np.array_equal(none, x)


def test_each_transform_does_what_it_says():
    x = _speech()
    assert _band_energy(band_limit(x, 300.0, 3400.0), 3500.0, 8000.0) < 1e-6
    assert _band_energy(band_limit(x, 300.0, 3400.0), 0.0, 250.0) < 1e-6
    y = mu_law_round_trip(x)
    assert _band_energy(y, 4100.0, 8000.0) < 1e-2 and np.corrcoef(y, band_limit(x, 0, 4000))[0, 1] > 0.95
    impulse = np.zeros(100, np.float32)
    impulse[0] = 1.0
    assert np.allclose(reverberate(x, impulse), x, atol=1e-5)


def _cache(rng, packages=("a", "b", "c", "d"), n=240, dim=8):
    """Cached 'features' whose class shows in every package alike; package 'd' adds an offset."""
    feats, labels, snrs, pk = [], [], [], []
    for i in range(n):
        c = i % 5
        p = packages[i % len(packages)] if c else None
        f = rng.normal(0, 1, (6, dim)).astype(np.float32)
        f[:, c] += 3.0
        if p == "d":
            f += 0.5
        feats.append(torch.tensor(f).half())
        labels.append(c)
        snrs.append(float("nan") if not c else float(rng.uniform(-5, 10)))
        pk.append([p] if p else [])
    return {"feats": feats, "label": torch.tensor(labels), "snr": torch.tensor(snrs), "packages": pk}


def test_leave_one_package_out_scores_each_package_with_a_head_that_never_heard_it():
    model = WhisperNoiseConfig(d_model=8, hidden=16, layers=1)
    optim = OptimConfig(lr=1e-2, weight_decay=0.0, warmup_steps=10)
    cfg = NoiseHeadTrainConfig(model=model, data=HeadDataConfig(batch_size=32), optim=optim, seed=0)
    res = leave_one_package_out(cfg, _cache(np.random.default_rng(0)), steps=120, min_examples=20)
    assert set(res["folds"]) == {"a", "b", "c", "d"}
    assert all(f["examples"] >= 20 for f in res["folds"].values())
    assert res["mean"]["accuracy"] > 0.8  # the class is visible whatever the package
    assert abs(res["mean"]["accuracy"] - np.mean([f["accuracy"] for f in res["folds"].values()])) < 1e-9


def test_leave_one_package_out_with_a_stats_head():
    model = WhisperNoiseConfig(d_model=4, hidden=16, layers=1, pooling="stats")  # (1 tap, 2 x 4) inputs
    optim = OptimConfig(lr=1e-2, weight_decay=0.0, warmup_steps=10)
    cfg = NoiseHeadTrainConfig(model=model, data=HeadDataConfig(batch_size=32), optim=optim, seed=0)
    cache = _cache(np.random.default_rng(0))
    cache["feats"] = [f[:1] for f in cache["feats"]]
    res = leave_one_package_out(cfg, cache, steps=120, min_examples=20)
    assert set(res["folds"]) == {"a", "b", "c", "d"} and res["mean"]["accuracy"] > 0.8


def test_stats_head_pools_the_tapped_blocks_saves_its_scaling_and_runs_alike_in_numpy(tiny_whisper, tmp_path):
    from avsr.core.store import save_checkpoint
    from avsr.noise.head_numpy import LowerEncoder, NumpyNoiseHead
    from avsr.noise.head_torch import NoiseHead, lower_features
    from avsr.recognizers.checkpoints import load_checkpoint
    from avsr.whisper.ct2_cache import convert_torch
    from avsr.whisper.ct2_file import model_parts, read_ct2
    from avsr.whisper.mel_torch import log_mel

    model, proc = tiny_whisper()
    cfg = WhisperNoiseConfig(whisper="tiny", layers=2, taps=(1, 2), d_model=64, hidden=8, pooling="stats")
    head = NoiseHead(cfg).attach(model.eval())
    audio = _speech()
    f = head.features(audio)
    assert f.shape == (2, 128)
    with torch.inference_mode():
        top = lower_features(head.encoder, log_mel(torch.from_numpy(audio), 80)[None], 2)[0]
    assert torch.allclose(f[1, :64], top.mean(0), atol=1e-5) and torch.allclose(f[1, 64:], top.std(0), rtol=1e-2)
    rng = np.random.default_rng(1)
    head.fit_norm([torch.tensor(rng.normal(3, 2, (2, 128)), dtype=torch.float32) for _ in range(50)])
    assert 2.5 < float(head.norm_mean.mean()) < 3.5 and 1.5 < float(head.norm_std.mean()) < 2.5
    folder = save_checkpoint(tmp_path / "head", head.eval(), "noise-head", cfg.to_dict())
    again = load_checkpoint(folder).attach(model)
    assert torch.equal(again.norm_std, head.norm_std) and again.predict(audio) == head.predict(audio)

    convert_torch(model, proc, tmp_path / "ct2")
    _, arrays = read_ct2(model_parts(tmp_path / "ct2"))
    mine = NumpyNoiseHead.from_checkpoint(folder, arrays)
    assert isinstance(mine.encoder, LowerEncoder)
    assert np.abs(mine.features(audio) - f.numpy()).max() < 1e-3 * float(f.abs().max())
    logits, snr = mine.logits(f.numpy())
    with torch.inference_mode():
        ref_logits, ref_snr = head(f[None])
    assert np.abs(logits - ref_logits[0].numpy()).max() < 1e-4 and abs(snr - float(ref_snr[0])) < 1e-3
    assert mine.predict(audio)["category"] == head.predict(audio)["category"]
