import numpy as np
import pytest

from avsr.roi import geometry


def test_similarity_recovers_known_transform():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(8, 2)) * 50
    ang, s, t = 0.3, 1.7, np.array([12.0, -4.0])
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]) * s
    dst = src @ rot.T + t
    m = geometry.similarity(src, dst)
    assert np.allclose(m[:, :2], rot) and np.allclose(m[:, 2], t)
    batch = geometry.similarity(np.stack([src, src]), dst)
    assert batch.shape == (2, 2, 3) and np.allclose(batch[1], m)
    assert np.allclose(geometry.apply(batch, np.stack([src, src])), dst)


def test_fill_gaps_interpolates_short_and_holds_long():
    x = np.arange(10, dtype=float)[:, None]
    valid = np.array([1, 0, 0, 1, 1, 0, 0, 0, 0, 1], bool)
    filled, interp = geometry.fill_gaps(x * np.where(valid, 1, np.nan)[:, None], valid, max_gap=2)
    assert np.allclose(filled[:4, 0], [0, 1, 2, 3])  # 2-frame gap: interpolated
    assert interp.tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert np.allclose(filled[5:9, 0], [4, 4, 9, 9])  # 4-frame gap: nearest valid frame held


def test_fill_gaps_edges_hold_nearest():
    x = np.array([[np.nan], [5.0], [np.nan]])
    filled, interp = geometry.fill_gaps(x, np.array([0, 1, 0], bool), max_gap=5)
    assert filled[:, 0].tolist() == [5, 5, 5] and not interp.any()


def test_smoothing_reduces_noise_and_zero_is_identity():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=200)) * 0.1 + rng.normal(size=200)
    assert np.array_equal(geometry.smooth(x, 0), x)
    assert np.abs(np.diff(geometry.smooth(x, 2))).mean() < 0.5 * np.abs(np.diff(x)).mean()


def test_crop_jitter_measures_shift():
    rng = np.random.default_rng(2)
    base = (rng.random((140, 140)) * 255).astype(np.uint8)
    import cv2

    base = cv2.GaussianBlur(base, (0, 0), 2)
    still = np.stack([base[20:116, 20:116]] * 5)
    assert geometry.crop_jitter(still) == pytest.approx(0, abs=0.05)
    moving = np.stack([base[20:116, 20 + 2 * i : 116 + 2 * i] for i in range(5)])
    assert geometry.crop_jitter(moving) == pytest.approx(2, abs=0.3)


def test_template_is_symmetric_and_normalised():
    t = geometry.TEMPLATE
    right = t[:2].mean(0)
    left = t[2:4].mean(0)
    assert np.allclose(right, [-0.5, 0], atol=1e-3) and np.allclose(left, [0.5, 0], atol=1e-3)
