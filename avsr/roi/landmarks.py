"""FaceMesh landmarks of the speaker, in tracking (video) mode.

FaceMesh sees only a square window around the chosen speaker (from :mod:`avsr.roi.detect`),
scaled to ``landmark_window`` pixels: other faces stay out of its view, small faces in large
frames are seen at full resolution, and its own tracking keeps working because the window only
moves when the face drifts out of its centre. A face found again after a miss must look like
(:func:`appearance`) the track's, so a lost track does not take over a different face that
comes into its window.
"""

from __future__ import annotations

import cv2
import numpy as np

from avsr.core.video import FAST_CONVERT_MAX_SIDE, to_rgb
from avsr.roi.config import RoiConfig

N_LANDMARKS = 468  # FaceMesh points without the iris refinement
WINDOW_FACTOR = 2.2  # window side / detector box side
BOX_PER_LANDMARK_EXTENT = 0.95  # detector box side / landmark bounding-box side (measured on the fixtures)
FOLLOW_FRAMES = 8  # landmarks this recent (frames) steer the window instead of the last detection


# Most colour distance (Bhattacharyya, 0 same .. 1 disjoint) of one face found again. Measured on
# the fixtures' two people: one face over 4 s of changing light or half behind a hand <= 0.40,
# the two faces >= 0.53. A weak cue (two people of one skin tone in one light can be closer): it
# only keeps a track from jumping to a clearly different face at the same place.
SAME_LOOK = 0.46


def appearance(rgb: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Colour of a face: normalised hue-saturation histogram (16x8) inside ``box`` (cx, cy, side
    in ``rgb``'s pixels: skin, hair, eyes); None when that is too small or outside the image."""
    cx, cy, side = box
    h = 0.5 * side
    x0, y0, x1, y1 = (int(round(v)) for v in (cx - h, cy - h, cx + h, cy + h))
    patch = rgb[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    if patch.shape[0] < 4 or patch.shape[1] < 4:
        return None
    hist = cv2.calcHist([cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return (hist / max(float(hist.sum()), 1.0)).ravel()


def look_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Bhattacharyya distance of two :func:`appearance` histograms (0.0 when one is unknown)."""
    if a is None or b is None:
        return 0.0
    return float(np.sqrt(max(0.0, 1.0 - float(np.sqrt(a * b).sum()))))


def landmark_box(pts: np.ndarray) -> np.ndarray:
    """(cx, cy, side) of the face whose (468, 2) landmarks are ``pts``, on the detector's scale."""
    lo, hi = pts.min(0), pts.max(0)
    return np.array([*(lo + hi) / 2, BOX_PER_LANDMARK_EXTENT * float(np.max(hi - lo))])


_TAGS = {0: 0x0A, 1: 0x0F, 2: 0x0D, 7: 0x15, 12: 0x1D}  # protobuf wire bytes of one landmark


def landmark_array(msg) -> np.ndarray:
    """(468, 2) normalised x, y of a NormalizedLandmarkList. Reads the serialised message
    directly (each landmark is 17 bytes: x, y, z as fixed32 floats), about 8x faster than
    walking the Python objects, which also holds the GIL less; falls back to that walk
    whenever the bytes are not laid out as expected."""
    raw = np.frombuffer(msg.SerializeToString(), np.uint8)
    if raw.size >= N_LANDMARKS * 17 and raw.size % 17 == 0:
        rec = raw.reshape(-1, 17)[:N_LANDMARKS]
        if all((rec[:, col] == tag).all() for col, tag in _TAGS.items()):
            return (
                np.ascontiguousarray(rec[:, [3, 4, 5, 6, 8, 9, 10, 11]]).view("<f4").reshape(-1, 2).astype(np.float64)
            )
    return np.array([(p.x, p.y) for p in msg.landmark[:N_LANDMARKS]], np.float64)


def prepare(frame, cfg: RoiConfig) -> tuple[np.ndarray, float]:
    """RGB of a decoded frame and its scale (1.0 up to FAST_CONVERT_MAX_SIDE; larger frames
    are reduced to it). Done on the decoding thread: PyAV frames must not be converted
    concurrently; the window cut and resize happen on the worker threads."""
    return to_rgb(frame, max_side=FAST_CONVERT_MAX_SIDE)


class SpeakerLandmarker:
    def __init__(self, cfg: RoiConfig):
        import mediapipe as mp

        self.cfg = cfg
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=cfg.min_detection_confidence,
            min_tracking_confidence=cfg.min_tracking_confidence,
        )
        self._win: np.ndarray | None = None  # (x0, y0, side) in source pixels
        self.resets = 0
        self._follow: tuple[int, np.ndarray] | None = None  # (frame, box) from the latest landmarks
        self._lost = True  # no face found on the latest attempt (or none yet)

    def _window(self, box: np.ndarray) -> np.ndarray:
        cx, cy, side = box
        want = side * WINDOW_FACTOR
        w = self._win
        if w is not None:
            wc = w[:2] + w[2] / 2
            if np.all(np.abs(wc - (cx, cy)) < 0.15 * w[2]) and 0.85 < want / w[2] < 1.18:
                return w
            # FaceMesh tracks in window coordinates: a moved window would send it to the wrong
            # place, so it starts afresh (re-detects) in the new one
            self._mesh.reset()
            self.resets += 1
        self._win = np.array([cx - want / 2, cy - want / 2, want])
        return self._win

    def __call__(
        self, index: int, image: tuple[np.ndarray, float], det_box: np.ndarray, look: np.ndarray | None = None
    ) -> np.ndarray | None:
        """(468, 2) landmark pixels in the source frame of frame ``index`` for the track whose
        last detector box is ``det_box`` = (cx, cy, side); None when FaceMesh finds no face
        there. ``image`` is the frame from :func:`prepare` (RGB and its scale). Between
        detections the window follows this instance's own latest landmarks. ``look``: the
        track's :func:`appearance`; a face found after a miss must look like it (else None: a
        different face that came into the window of a lost one is not that face)."""
        box = self._follow[1] if self._follow is not None and index - self._follow[0] <= FOLLOW_FRAMES else det_box
        x0, y0, side = self._window(box)
        img, s = image
        k = min(1.0, self.cfg.landmark_window / side)  # window pixels per source pixel
        n = max(16, int(round(side * k)))
        m = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]], np.float32)
        m[:, :2] /= s  # img pixels -> source pixels first
        win = cv2.warpAffine(img, m, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        res = self._mesh.process(win)
        if not res.multi_face_landmarks:
            return self._miss()
        pts = landmark_array(res.multi_face_landmarks[0]) * n / k
        pts += (x0, y0)
        # the face found must be the one followed: its centre inside that face's box
        if np.any(np.abs(pts.mean(0) - box[:2]) > 0.6 * box[2]):
            return self._miss()
        found = landmark_box(pts)
        if self._lost and look is not None and look_distance(look, appearance(img, found * s)) > SAME_LOOK:
            return self._miss()
        self._follow, self._lost = (index, found), False
        return pts

    def _miss(self) -> None:  # always None: "no landmarks"
        self._lost = True
        return None

    @property
    def follow_box(self) -> np.ndarray | None:
        """(cx, cy, side) of the face at the latest landmarks, None before any."""
        return None if self._follow is None else self._follow[1]

    def close(self) -> None:
        self._mesh.close()


class LandmarkPool:
    """FaceMesh over many frames on ``workers`` threads (mediapipe releases the GIL). Landmark
    frames are dealt to the workers in turn, so each FaceMesh instance still sees its
    frames in time order and tracks; every open face track has its own instance per worker.
    Queues are bounded, so memory stays flat however long the clip is. :meth:`news` tells the
    caller, a few frames late, where each track was last found and missed."""

    def __init__(self, cfg: RoiConfig, workers: int = 2):
        import queue
        import threading

        self.cfg = cfg
        self.results: dict[int, dict[int, np.ndarray]] = {}  # track -> frame -> (468, 2)
        self._errors: list[BaseException] = []
        self._news: dict[int, tuple[int, int, np.ndarray | None]] = {}  # track -> (missed, found, box)
        self._lock = threading.Lock()
        self._queues = [queue.Queue(maxsize=8) for _ in range(max(1, workers))]
        self._threads = [threading.Thread(target=self._run, args=(q,), daemon=True) for q in self._queues]
        for t in self._threads:
            t.start()

    def _run(self, q) -> None:
        meshes: dict[int, SpeakerLandmarker] = {}
        try:
            while (job := q.get()) is not None:
                index, track, image, box, look = job
                if self._errors:
                    continue
                mesh = meshes.get(track) or meshes.setdefault(track, SpeakerLandmarker(self.cfg))
                pts = mesh(index, image, box, look)
                if pts is not None:
                    self.results.setdefault(track, {})[index] = pts
                with self._lock:
                    missed, found, at = self._news.get(track, (-1, -1, None))
                    if pts is None:
                        self._news[track] = (max(missed, index), found, at)
                    elif index > found:
                        self._news[track] = (missed, index, mesh.follow_box)
        except BaseException as e:  # re-raised in the caller's thread by finish()
            self._errors.append(e)
            while q.get() is not None:
                pass
        finally:
            for m in meshes.values():
                m.close()

    def submit(
        self, index: int, track: int, image: tuple[np.ndarray, float], box: np.ndarray, look: np.ndarray | None = None
    ) -> None:
        """Queue one frame (from :func:`prepare`) for the given track (its latest box and its
        :func:`appearance`); blocks while full."""
        self._queues[(index // self.cfg.landmark_stride) % len(self._queues)].put((index, track, image, box, look))

    def news(self) -> dict[int, tuple[int, int, np.ndarray | None]]:
        """track -> (last frame FaceMesh missed it, last frame it found it, the face's box
        (cx, cy, side) there); -1 for never. Only frames already processed count."""
        with self._lock:
            return dict(self._news)

    def finish(self) -> dict[int, dict[int, np.ndarray]]:
        for q in self._queues:
            q.put(None)
        for t in self._threads:
            t.join()
        if self._errors:
            raise self._errors[0]
        return self.results
