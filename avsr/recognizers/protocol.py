"""The recogniser protocol: what every recogniser implements, so that the batch engine
(:mod:`avsr.transcribe`), the evaluation and ``avsr.load_recognizer`` treat them alike.

A recogniser splits work in three steps: :class:`~avsr.recognizers.prepare.Preparer` turns a
file into segments (decoding, crops: no model, so it can run in worker processes),
``decode(segments)`` runs the models on a batch of them, and
:func:`~avsr.recognizers.record.assemble` makes the :class:`~avsr.recognizers.record.Result`.
``transcribe(path)`` does the three in a row (:func:`transcribe_file`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from avsr.core.errors import MediaError
from avsr.recognizers.prepare import Preparer
from avsr.recognizers.record import Result, assemble

if TYPE_CHECKING:
    import torch

    from avsr.recognizers.prepare import Segment
    from avsr.roi.config import RoiConfig


@runtime_checkable
class Recognizer(Protocol):
    """``kind``: ``"vsr"`` or ``"av"`` (which inputs it takes); ``modes``: the preparation modes it
    decodes (``vsr``; ``avsr``/``asr``); ``names``: what produced its output (the record's
    ``model``); ``roi``: the crop settings its preparation uses (None: the defaults)."""

    kind: str
    modes: tuple[str, ...]
    names: dict[str, str]
    roi: RoiConfig | None

    def modules(self) -> dict[str, torch.nn.Module]:
        """Its ``nn.Module`` s, by name (so that Lightning can move them to a device)."""
        ...

    def decode(self, segments: list[Segment]) -> list[dict[str, Any]]:
        """Prepared segments -> one result dict per segment (``text``, ``timings``, ...)."""
        ...

    def transcribe(self, path: str | os.PathLike) -> Result:
        """One file -> its result record."""
        ...


def transcribe_file(rec: Recognizer, path: str | os.PathLike, mode: str, **decode_kw: Any) -> Result:
    """Prepare ``path`` in ``mode``, decode all its segments in one call, assemble the record.
    MediaError when the file cannot be prepared."""
    unavailable = {}
    if "vsr" not in rec.modes:  # auto mode on a silent video, for a recogniser that needs sound
        unavailable["vsr"] = (
            f"{path}: a silent video: this recogniser reads {' / '.join(rec.modes)}; lip reading needs "
            "avsr.load_recognizer(vsr=...) (`avsr models` lists the published lip-reading checkpoints)"
        )
    prep = Preparer(mode, rec.roi, crops=getattr(rec, "needs_crops", True), unavailable=unavailable)
    segs = list(prep(0, Path(path).stem, os.fspath(path)))
    if segs[-1].error:
        raise MediaError(segs[-1].error)
    return assemble(segs, rec.decode(segs, **decode_kw), rec.names)
