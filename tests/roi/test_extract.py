"""The ROI stage on real video, and on every awkward input it must survive."""

import numpy as np
import pytest
from conftest import CARPHONE, DISTORTED, PYFEAT

from avsr.core.configs import from_dict
from avsr.core.errors import MediaError
from avsr.roi import NoFaceError, RoiConfig, extract, geometry


@pytest.fixture(scope="module")
def carphone():
    return extract(CARPHONE)


def test_carphone_face_found_on_90_percent(carphone):
    assert carphone.frames == 100
    assert carphone.face_ratio >= 0.9
    stride = carphone.config.landmark_stride
    assert carphone.measured[::stride].mean() >= 0.9  # FaceMesh found the face where it ran
    assert carphone.crops.shape == (100, 96, 96) and carphone.crops.dtype == np.uint8
    assert carphone.audio is None  # the clip has no audio track: ROI still produced
    assert carphone.n_faces == 1 and carphone.warnings == []


def test_carphone_mouth_inside_central_region_of_every_crop(carphone):
    lips = geometry.OUTER_LIPS + geometry.INNER_LIPS
    for t in np.flatnonzero(carphone.measured):
        pts = geometry.apply(
            carphone.transforms[t].astype(np.float64), carphone.landmarks[t, list(lips)].astype(np.float64)
        )
        assert pts.min() >= 96 * 0.12 and pts.max() <= 96 * 0.88, f"frame {t}: lips at {pts.min():.1f}..{pts.max():.1f}"
        centre = pts.mean(0)
        assert np.all(np.abs(centre - 48) < 96 * 0.15), f"frame {t}: mouth centre {centre}"


def test_crops_look_like_a_mouth(carphone):
    # the mouth (dark opening / lip line) is in the middle band, not the top or the bottom
    rows = carphone.crops.astype(float).mean((0, 2))
    assert rows[36:60].min() < rows[:20].mean() and rows[36:60].min() < rows[-20:].mean()


def test_landmarks_and_flags_shapes(carphone):
    assert carphone.landmarks.shape == (100, 468, 2)
    assert carphone.transforms.shape == (100, 2, 3)
    assert np.isnan(carphone.landmarks[~carphone.measured]).all()
    assert not np.isnan(carphone.landmarks[carphone.measured]).any()


def test_pyfeat_with_audio():
    clip = extract(PYFEAT)
    assert clip.face_ratio == 1.0
    assert clip.audio is not None and clip.audio.dtype == np.float32
    assert len(clip.audio) == pytest.approx(clip.frames * 640, rel=0.1)


def test_smoothing_lowers_crop_jitter():
    smooth = extract(PYFEAT)
    raw = extract(PYFEAT, RoiConfig(smooth_sigma=0, centre_sigma=0))
    assert geometry.crop_jitter(smooth.crops) < geometry.crop_jitter(raw.crops)


def test_face_mode_full_face_rgb():
    clip = extract(PYFEAT, RoiConfig(mode="face", color=True))
    assert clip.crops.shape == (60, 224, 224, 3)
    eyes = [
        geometry.apply(clip.transforms[t].astype(float), clip.landmarks[t, [33, 263]].astype(float))
        for t in range(0, 60, 10)
    ]
    for e in eyes:  # both eyes in the upper half, either side of the centre line
        assert e[:, 1].max() < 112 and e[0, 0] < 112 < e[1, 0]


def test_two_faces_keeps_the_large_steady_one(media):
    clip = extract(media.two_faces)
    assert clip.n_faces >= 2 and any("face tracks" in w for w in clip.warnings)
    centres = clip.landmarks[clip.measured].mean(axis=1)
    assert clip.face_ratio > 0.95
    assert np.nanmax(centres[:, 0]) < 640, "landmarks jumped to the small face that appeared later"


def test_face_leaving_the_frame(media):
    clip = extract(media.leaves_frame)
    assert clip.frames == 60 and len(clip.crops) == 60
    assert clip.face[:20].all() and not clip.face[-10:].any()
    assert 0.3 < clip.face_ratio < 0.8


def test_no_face_is_a_clear_error(media):
    with pytest.raises(NoFaceError, match="no face found in 50 frames"):
        extract(media.no_face)


def test_distorted_clip_fails_with_reason():
    # heavily compressed: the detector sees a face, FaceMesh cannot place landmarks on it
    with pytest.raises(NoFaceError, match="no landmarks"):
        extract(DISTORTED)


def test_4k_frames(media):
    clip = extract(media.uhd)
    assert clip.width == 3840 and clip.crops.shape == (8, 96, 96)
    assert clip.face_ratio == 1.0
    small = extract(PYFEAT)
    # the same face at 6x the resolution gives nearly the same crop
    diff = np.abs(clip.crops.astype(float) - small.crops[:8].astype(float)).mean()
    assert diff < 12, diff


def test_variable_frame_rate(media):
    clip = extract(media.vfr)
    assert clip.frames == int(np.floor(media.vfr_times[-1] * 25)) + 1
    assert clip.face_ratio >= 0.9


def test_truncated_streamable_file_keeps_what_decodes(media):
    clip = extract(media.truncated_mkv)
    assert 20 < clip.frames < 100
    assert any("truncated" in w for w in clip.warnings)


def test_truncated_mp4_is_a_clear_error(media):
    with pytest.raises(MediaError):
        extract(media.truncated_mp4)


def test_config_validation():
    with pytest.raises(ValueError, match="mode"):
        RoiConfig(mode="lips")
    with pytest.raises(ValueError, match="unknown RoiConfig field"):
        from_dict(RoiConfig, {"smoothing": 2})
    assert RoiConfig(mode="face").out_size == 224 and RoiConfig().out_size == 96


def test_render_from_grey_cache_equals_second_decode(monkeypatch, carphone):
    import importlib

    ex = importlib.import_module("avsr.roi.extract")  # the module (avsr.roi.extract is also the function)
    monkeypatch.setattr(ex, "GRAY_CACHE_MAX_BYTES", 0)  # force the second decode
    decoded = extract(CARPHONE)
    assert np.array_equal(decoded.crops, carphone.crops)
