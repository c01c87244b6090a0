"""Sparse face detection, tracks that survive a short loss, and the choice of the speaker.

The mediapipe full-range face detector runs every ``detect_every`` frames, and every
``search_every`` frames while a followed face is missing (FaceMesh failing on it twice in a row),
for at most ``relink`` frames after FaceMesh last found it: on ordinary video it runs no more
often than before. Detections are linked into tracks by overlap; a face found again
after a loss (hands over the face, a turned head) where its track was last seen, at a similar
size and with a similar colour, continues that track instead of starting a new one. A track
stays open (FaceMesh follows it) while the detector or FaceMesh saw it within ``keep_open``
frames. At the end, tracks that cannot be two people (never seen apart at the same time, and
consistent where one ends and the other begins) are joined into one person, and the speaker is
the person with the largest, steadiest face over the whole clip (not whichever face was seen
last, nor the longest fragment of a person). Only the speaker's landmarks are kept, so a second
face in the picture cannot take over the crop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avsr.roi.config import RoiConfig
from avsr.roi.landmarks import SAME_LOOK, appearance, landmark_box, look_distance

SAME_PLACE = 0.8  # most centre distance (in face sides) of one face found again after a loss
SAME_SIZE = 1.5  # most size ratio of one face found again
AT_ONCE = 0.5  # two tracks seen this close (face sides) on the same frame are one face
LOOK_MEMORY = 0.3  # weight of a new detection's look in a track's look (it follows slow light changes)


def same_face(a: np.ndarray, b: np.ndarray, look_a=None, look_b=None) -> bool:
    """Boxes (cx, cy, side) and looks consistent with one face seen before and after a loss."""
    side = max(a[2], b[2])
    return (
        float(np.hypot(*(a[:2] - b[:2]))) <= SAME_PLACE * side
        and side / min(a[2], b[2]) <= SAME_SIZE
        and look_distance(look_a, look_b) <= SAME_LOOK
    )


@dataclass
class Track:
    frames: list[int] = field(default_factory=list)  # frame indices of the detections
    boxes: list[np.ndarray] = field(default_factory=list)  # (cx, cy, side) in source pixels
    scores: list[float] = field(default_factory=list)
    look: np.ndarray | None = None  # :func:`appearance` of its recent detections (moving average)
    seen: int = -1  # last frame the detector or FaceMesh found this face
    box: np.ndarray | None = None  # where it was then
    mesh: int = -1  # last frame FaceMesh placed landmarks on it (-1: never)
    missed: int = -1  # last frame FaceMesh looked for it and did not find it
    first_look: np.ndarray | None = field(default=None, init=False)  # :func:`appearance` where it begins

    def __post_init__(self) -> None:
        self.first_look = self.look

    def last(self) -> np.ndarray:
        return self.boxes[-1]

    def add(self, frame: int, box: np.ndarray, score: float, look: np.ndarray | None) -> None:
        self.frames.append(frame)
        self.boxes.append(box)
        self.scores.append(score)
        if look is not None:
            self.first_look = look if self.first_look is None else self.first_look
            self.look = look if self.look is None else self.look + LOOK_MEMORY * (look - self.look)
        if frame >= self.seen:
            self.seen, self.box = frame, box

    def _slotted(self, every: int) -> np.ndarray:
        """Boxes, one per ``every``-frame slot (detections made while searching add none)."""
        keep = np.unique(np.asarray(self.frames) // every, return_index=True)[1]
        return np.stack(self.boxes)[keep]

    def merit(self, every: int = 1) -> float:
        """Largest and steadiest: summed face size (one detection per ``every`` frames),
        discounted by the mean jump between those detections relative to the face's size.
        Short-lived or jumping tracks lose."""
        b = self._slotted(every)
        size = float(b[:, 2].sum())
        if len(b) < 2:
            return size
        jumps = np.linalg.norm(np.diff(b[:, :2], axis=0), axis=1) / b[1:, 2]
        return size / (1.0 + float(np.mean(jumps)))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[2] / 2, a[0] + a[2] / 2, a[1] + a[2] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[2] / 2, b[0] + b[2] / 2, b[1] + b[2] / 2
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    return inter / (a[2] ** 2 + b[2] ** 2 - inter + 1e-9)


Found = tuple[np.ndarray, float, "np.ndarray | None"]  # (box, score, appearance) of one detection


class FaceDetector:
    """mediapipe BlazeFace full-range detector; returns square boxes (cx, cy, side) in pixels,
    scores and :func:`appearance` histograms."""

    def __init__(self, cfg: RoiConfig):
        import mediapipe as mp

        self.cfg = cfg
        self._det = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=cfg.min_detection_confidence
        )

    def __call__(self, rgb: np.ndarray, scale: float) -> list[Found]:
        h, w = rgb.shape[:2]
        res = self._det.process(rgb)
        out = []
        for d in res.detections or []:
            bb = d.location_data.relative_bounding_box
            side = max(bb.width * w, bb.height * h)
            box = np.array([(bb.xmin + bb.width / 2) * w, (bb.ymin + bb.height / 2) * h, side])
            if box[2] / scale > 1:
                out.append((box / scale, float(d.score[0]), appearance(rgb, box)))
        return out

    def close(self) -> None:
        self._det.close()


class TrackSet:
    """Online linking of detections into tracks (see the module docstring), and the people they
    make up at the end."""

    def __init__(self, cfg: RoiConfig):
        self.keep_open = max(cfg.max_gap, 2 * cfg.detect_every)
        self.every, self.search_every, self.relink = cfg.detect_every, cfg.search_every, cfg.relink
        self.patience = cfg.landmark_stride  # FaceMesh attempts this far apart are consecutive
        self.tracks: list[Track] = []

    def active(self, frame: int) -> list[tuple[int, Track]]:
        return [(i, t) for i, t in enumerate(self.tracks) if frame - t.seen <= self.keep_open]

    def hear(self, news: dict[int, tuple[int, int, np.ndarray | None]]) -> None:
        """FaceMesh's news, track -> (last frame missed, last frame found, box there): a face
        FaceMesh still finds stays open although the detector misses it, one it fails on is
        searched for."""
        for i, (missed, found, box) in news.items():
            t = self.tracks[i]
            t.missed, t.mesh = max(t.missed, missed), max(t.mesh, found)
            if found > t.seen:
                t.seen, t.box = found, box

    def due(self, frame: int, news: dict | None = None) -> bool:
        """Whether the detector runs on this frame: every ``detect_every`` frames, and every
        ``search_every`` frames while a face FaceMesh had found is missing (FaceMesh failed on
        it twice in a row since), for at most ``relink`` frames after FaceMesh last found it.
        FaceMesh (every ``landmark_stride`` frames) is the judge, not a missed detection: its
        news come a few frames late, and a face it still follows is not lost."""
        if news:
            self.hear(news)
        if frame % self.every == 0:
            return True
        return frame % self.search_every == 0 and any(
            t.mesh >= 0 and t.missed > t.mesh + self.patience and frame - t.mesh <= self.relink for t in self.tracks
        )

    def update(self, frame: int, found: list[Found]) -> None:
        """Link one frame's detections: to open tracks by overlap first, then to tracks seen
        within ``relink`` frames by place, size and look; the rest start new tracks."""
        recent = [(i, t) for i, t in enumerate(self.tracks) if frame - t.seen <= self.relink]
        pairs = sorted(
            (
                (_iou(t.box, b), i, di)
                for i, t in recent
                if frame - t.seen <= self.keep_open
                for di, (b, _, _) in enumerate(found)
            ),
            reverse=True,
        )
        # a track that is missing (its latest look failed) takes an overlapping face back only if
        # that looks like it: a cut to another person framed alike is not the same face
        linked = [(i, di) for q, i, di in pairs if q >= 0.2 and self._looks_back(i, found[di][2])]
        near = sorted(
            (float(np.hypot(*(t.box[:2] - b[:2]))) / b[2], i, di)
            for i, t in recent
            for di, (b, _, look) in enumerate(found)
            if same_face(t.box, b, t.look, look)
        )
        used_t, used_d = set(), set()
        for i, di in linked + [(i, di) for _, i, di in near]:
            if i in used_t or di in used_d:
                continue
            self.tracks[i].add(frame, *found[di])
            used_t.add(i)
            used_d.add(di)
        for di, (b, s, look) in enumerate(found):
            if di not in used_d:
                self.tracks.append(Track([frame], [b], [s], look, frame, b))

    def _looks_back(self, i: int, look: np.ndarray | None) -> bool:
        t = self.tracks[i]
        return t.missed <= t.seen or look_distance(t.look, look) <= SAME_LOOK

    def people(self, found: dict[int, dict[int, np.ndarray]]) -> list[list[int]]:
        """Tracks grouped into people, each a list of track indices. Taken in order of their
        first sighting, a track joins a person already seen when it is never seen apart from
        them on the same frame, and where it begins (and ends, if that person is seen again
        later) matches that person's nearest sighting in place, size and look; otherwise it is
        a new person. ``found``: track -> frame -> (468, 2) FaceMesh landmarks."""
        if len(self.tracks) < 2:
            return [[i] for i in range(len(self.tracks))]
        groups: list[_Person] = []
        tracks = [(i, *_sightings(t, found.get(i, {}))) for i, t in enumerate(self.tracks)]
        for i, f, b in sorted(tracks, key=lambda x: x[1][0]):
            fits = [g for g in groups if g.fits(self.tracks[i], f, b)]
            if fits:  # the one seen last before this track began
                max(fits, key=lambda g: g.frames[np.searchsorted(g.frames, f[0]) - 1]).add(i, f, b)
            else:
                groups.append(_Person(self.tracks, [i], f, b, np.full(len(f), i)))
        return [g.members for g in groups]

    def speaker(self, min_frames: int, found: dict[int, dict[int, np.ndarray]]) -> tuple[list[int], int]:
        """(the speaker's tracks, how many people were seen): the speaker is the person with the
        largest, steadiest face over the whole clip, among those detected in at least
        ``min_frames`` ``detect_every`` slots; no tracks when there is none."""
        people = self.people(found)
        good = [p for p in people if sum(len(self.tracks[i]._slotted(self.every)) for i in p) >= min_frames]
        if not good:
            return [], len(people)
        return max(good, key=lambda p: sum(self.tracks[i].merit(self.every) for i in p)), len(people)


def _sightings(t: Track, marks: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(frames, boxes) where a track's face was seen by the detector or FaceMesh, in time order."""
    at = dict(zip(t.frames, t.boxes))
    at.update((f, landmark_box(p)) for f, p in marks.items())
    frames = np.array(sorted(at), np.int64)
    return frames, np.stack([at[f] for f in frames])


@dataclass
class _Person:
    """Tracks taken to be one person, with all their sightings in time order."""

    tracks: list[Track]  # all tracks of the clip
    members: list[int]  # this person's
    frames: np.ndarray  # (n,) frame indices of the sightings
    boxes: np.ndarray  # (n, 3) (cx, cy, side)
    owners: np.ndarray  # (n,) the track of each sighting

    def fits(self, t: Track, f: np.ndarray, b: np.ndarray) -> bool:
        """Whether track ``t`` seen on frames ``f`` (starting no earlier than this person) at
        boxes ``b`` can be this person: never apart on one frame, and its first (last) sighting
        matches this person's last before (first after) it, the looks there included."""
        gf, gb = self.frames, self.boxes
        if gf[-1] >= f[0]:  # seen on the same frames: one face only if at one place every time
            _, ia, ib = np.intersect1d(f, gf, return_indices=True)
            if np.any(np.hypot(*(b[ia, :2] - gb[ib, :2]).T) > AT_ONCE * np.maximum(b[ia, 2], gb[ib, 2])):
                return False
        k, j = np.searchsorted(gf, f[0]) - 1, np.searchsorted(gf, f[-1], side="right")
        if k >= 0 and not same_face(gb[k], b[0], self.tracks[self.owners[k]].look, t.first_look):
            return False
        return j >= len(gf) or same_face(b[-1], gb[j], t.look, self.tracks[self.owners[j]].first_look)

    def add(self, i: int, f: np.ndarray, b: np.ndarray) -> None:
        order = np.argsort(np.concatenate([self.frames, f]), kind="stable")
        self.frames, self.boxes = np.concatenate([self.frames, f])[order], np.concatenate([self.boxes, b])[order]
        self.owners = np.concatenate([self.owners, np.full(len(f), i)])[order]
        self.members.append(i)
