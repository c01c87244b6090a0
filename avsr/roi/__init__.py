"""Lip-ROI extraction: any talking-face video -> stable mouth (or face) crops at 25 fps.

>>> from avsr.roi import extract
>>> clip = extract("talk.mp4")          # RoiClip: crops (T, 96, 96) uint8, landmarks, face flags, audio
>>> clip.crops.shape, clip.face_ratio

``avsr roi INPUT... -o OUT -j N`` runs the same over many files (see :mod:`avsr.roi.batch`).
"""

from avsr.roi.config import RoiConfig
from avsr.roi.extract import Analysis, NoFaceError, RoiClip, analyse, extract

__all__ = ["RoiConfig", "RoiClip", "Analysis", "NoFaceError", "analyse", "extract"]
