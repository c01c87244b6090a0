"""The VALLR authors' face crop (``align="box"``): roll corrected, the landmarks' bounding box
stretched to the output square; on synthetic landmarks and on a real face video."""

import numpy as np
import pytest
from conftest import PYFEAT

from avsr.roi.config import RoiConfig
from avsr.roi.geometry import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR, apply, box_transforms


def test_box_levels_the_eyes_and_fills_the_square():
    rng = np.random.default_rng(0)
    face = rng.uniform([-50, -60], [50, 70], size=(468, 2))
    face[list(RIGHT_EYE_CONTOUR)] = rng.normal([-30, -20], 2, size=(16, 2))
    face[list(LEFT_EYE_CONTOUR)] = rng.normal([30, -20], 2, size=(16, 2))
    lm = []
    for deg, shift in ((0, (300, 200)), (20, (320, 180)), (-35, (100, 400))):
        a = np.deg2rad(deg)
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        lm.append(face @ r.T * 1.5 + shift)
    lm = np.stack(lm)
    m = box_transforms(lm, 224)
    pts = apply(m, lm)
    assert np.allclose(pts.min(1), 0, atol=1e-6) and np.allclose(pts.max(1), 224, atol=1e-6)
    eyes = pts[:, list(LEFT_EYE_CONTOUR)].mean(1) - pts[:, list(RIGHT_EYE_CONTOUR)].mean(1)
    assert np.allclose(eyes[:, 1], 0, atol=1e-6) and (eyes[:, 0] > 0).all()  # level, not mirrored
    assert np.allclose(pts[0], pts[1], atol=1e-6) and np.allclose(pts[0], pts[2], atol=1e-6)  # roll undone


def test_box_is_face_mode_only():
    with pytest.raises(ValueError, match="face crops only"):
        RoiConfig(mode="mouth", align="box")


def test_box_crops_of_a_real_face_video():
    from avsr.roi import extract

    box = extract(PYFEAT, RoiConfig(mode="face", size=224, color=True, align="box"), audio=False)
    aligned = extract(PYFEAT, RoiConfig(mode="face", size=224, color=True), audio=False)
    assert box.crops.shape == aligned.crops.shape and box.crops.shape[1:] == (224, 224, 3)
    assert box.face_ratio > 0.9
    # the box is tighter than the aligned crop: the face fills more of it, so it differs
    assert np.abs(box.crops.astype(int) - aligned.crops.astype(int)).mean() > 10
