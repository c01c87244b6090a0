"""Configuration of the lip-ROI stage (a frozen dataclass; YAML files only override fields)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from avsr.core.media import FACE_ROI_SIZE, MOUTH_ROI_SIZE


@dataclass(frozen=True)
class RoiConfig:
    """How mouth (or face) crops are made from a video.

    mode: ``"mouth"`` (default, Auto-AVSR style 96x96 mouth crop) or ``"face"`` (VALLR-style
      224x224 full face).
    size: output side in pixels; ``None`` picks 96 for mouth and 224 for face.
    color: RGB crops instead of grey.
    crop_scale: crop side in units of the inter-ocular distance (IOD, between eye centres).
    detect_every: run the face detector every N frames (at 25 fps) to find faces; the speaker
      track is chosen over the whole clip from these detections. Between detections FaceMesh
      follows each face by itself.
    search_every: while a face that was followed is missing (FaceMesh failing on it: hands over
      the face, a turned head), the detector runs every N frames to find it again, for at most
      ``relink`` frames; ordinary video never pays for it.
    relink: a face found again within N frames of its track's last sighting, near where it was
      seen, at a similar size and colour, continues that track (:mod:`avsr.roi.detect`).
    landmark_stride: run FaceMesh on every Nth frame and interpolate the frames between (1 = every
      frame, ~0.7x the speed; the ``measured`` flags say which frames were measured). 2 keeps
      crop jitter well below a per-frame detector's (bench/roi.py) at about twice its speed.
    smooth_sigma: Gaussian smoothing (frames) of the alignment anchors (eyes, nose); 0 disables.
      Kept light: heavier smoothing lags real head and camera motion (measured in bench/roi.py).
    centre_sigma: Gaussian smoothing (frames) of the mouth position inside the aligned face; this
      removes jaw motion and landmark noise from the crop centre.
    max_gap: longest run of frames without a face (frames) that is filled by interpolation;
      longer runs hold the nearest face and keep ``face=False``.
    detector_max_side: longest side of the frame given to the face detector.
    landmark_window: side (pixels) the region around the speaker is scaled to for FaceMesh.
    min_detection_confidence / min_tracking_confidence: mediapipe thresholds.
    min_track_frames: detections a person needs (at ``detect_every`` spacing) to count as the
      speaker; tracks that cannot be two people (a face lost and found again) count as one.
    qa_frames: number of frames shown in the QA montage.
    align: ``"mesh"`` (default): FaceMesh anchors fitted to our template with the smoothing
      above; ``"mean_face"``: Auto-AVSR's own preparation (:mod:`avsr.roi.mean_face`): the face
      detector's 4 keypoints on every frame, a 12-frame mean, similarity to the 68-point mean
      face and a 96x96 cut around the mouth (mode ``"mouth"`` only; ``size`` other than 96
      scales that crop; ``crop_scale``, ``smooth_sigma`` and ``centre_sigma`` are not used).
      ``"box"`` (mode ``"face"`` only; the VALLR authors' ``face_cropper.py``): every frame squeezed
      to ``size`` x ``size``, then the bounding box of its 468 landmarks after roll correction,
      stretched to ``size`` x ``size``; no smoothing (:func:`avsr.roi.geometry.box_transforms`).
    gray_from: how grey crops (``color`` False) are made. ``"luma"`` (default): warped from the
      decoded frame's luma plane (:func:`avsr.core.video.to_gray`). ``"rgb"`` (``align="mean_face"``
      only; the Auto-AVSR preset): as Auto-AVSR's models see them, the RGB crop warped from the
      RGB frame, then :func:`avsr.roi.mean_face.peer_gray` (torchvision's Grayscale, rounded);
      luma differs from that by ~1.4 grey levels. The analysis then keeps RGB frames for the
      render pass (3x the bytes: videos 3x shorter than with luma are decoded once).
    """

    mode: str = "mouth"
    size: int | None = None
    color: bool = False
    crop_scale: float | None = None
    detect_every: int = 25
    search_every: int = 2
    relink: int = 75
    landmark_stride: int = 2
    smooth_sigma: float = 0.5
    centre_sigma: float = 12.0
    max_gap: int = 25
    detector_max_side: int = 640
    landmark_window: int = 256
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    min_track_frames: int = 1
    qa_frames: int = 16
    align: str = "mesh"
    gray_from: str = "luma"

    def __post_init__(self) -> None:
        if self.mode not in ("mouth", "face"):
            raise ValueError(f"RoiConfig.mode must be 'mouth' or 'face', got {self.mode!r}")
        positive = ("detect_every", "search_every", "landmark_stride", "detector_max_side", "landmark_window")
        for name in (*positive, "qa_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"RoiConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.size is not None and self.size < 8:
            raise ValueError(f"RoiConfig.size must be >= 8, got {self.size}")
        if self.max_gap < 0 or self.relink < 0 or self.smooth_sigma < 0 or self.centre_sigma < 0:
            raise ValueError("RoiConfig.max_gap, relink, smooth_sigma and centre_sigma must be >= 0")
        if self.align not in ("mesh", "mean_face", "box"):
            raise ValueError(f"RoiConfig.align must be 'mesh', 'mean_face' or 'box', got {self.align!r}")
        if self.align == "box" and self.mode != "face":
            raise ValueError("RoiConfig.align='box' makes face crops only (mode='face')")
        if self.align == "mean_face" and self.mode != "mouth":
            raise ValueError("RoiConfig.align='mean_face' makes mouth crops only (mode='mouth')")
        if self.gray_from not in ("luma", "rgb"):
            raise ValueError(f"RoiConfig.gray_from must be 'luma' or 'rgb', got {self.gray_from!r}")
        if self.gray_from == "rgb" and self.align != "mean_face":
            raise ValueError("RoiConfig.gray_from='rgb' follows Auto-AVSR's grey (align='mean_face' only)")

    @property
    def out_size(self) -> int:
        if self.size is not None:
            return self.size
        return MOUTH_ROI_SIZE if self.mode == "mouth" else FACE_ROI_SIZE

    @property
    def scale(self) -> float:
        """Crop side / inter-ocular distance."""
        if self.crop_scale is not None:
            return self.crop_scale
        return 1.75 if self.mode == "mouth" else 2.6

    def to_dict(self) -> dict[str, Any]:
        """Every field, except fields added later while they keep their default: output folders
        made before those fields existed still match the config (:mod:`avsr.roi.batch`)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, default in _ADDED.items():
            if d[name] == default:
                del d[name]
        return d


# fields added after output folders were first written, and their defaults
_ADDED = {"align": "mesh", "search_every": 2, "relink": 75, "gray_from": "luma"}
