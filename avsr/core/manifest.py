"""The manifest record: one typed line of a JSONL manifest, and the one rule for its paths.

Every manifest avsr reads or writes (``avsr roi``, the LRS2/LRS3 recipes, noise and speech
corpora, test sets, ``avsr transcribe`` inputs) is JSONL with these fields; a line may carry
more (they travel in ``extra``). Manifests store text and phonemes, never tokenizer ids.

Path rule (:func:`resolve_path`): an absolute path is used as it is; a relative one is relative
to the manifest's folder (as ``avsr roi`` and the recipes write them), or, when no such file
exists there but one exists relative to the working directory, relative to that (as
``data_prep/audio.py`` writes its corpora).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from avsr.core.errors import InputError
from avsr.core.jsonl import read_jsonl

PATH_KEYS = ("video", "audio", "roi", "crops", "landmarks")  # fields that name files
MEDIA_KEYS = ("video", "source", "path", "media", "audio")  # where an input line names its media file, in this order


@dataclass(frozen=True)
class ManifestRecord:
    """One manifest line. ``frames``: crop frames at 25 fps; ``duration``: seconds."""

    id: str
    video: str | None = None  # source video
    audio: str | None = None  # 16 kHz mono WAV (or any audio file)
    roi: str | None = None  # lossless mouth-crop video written by ``avsr roi``
    crops: str | None = None  # the crops an evaluation reads (set from ``roi`` when absent)
    landmarks: str | None = None
    text: str | None = None
    phonemes: str | None = None  # space-separated ARPAbet, ``|`` between words
    frames: int | None = None
    duration: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, rec: dict[str, Any], base: str | os.PathLike | None = None) -> ManifestRecord:
        """A record from a JSON line; with ``base`` (the manifest's folder) its paths are resolved.
        InputError when a known field has the wrong type."""
        if not isinstance(rec.get("id"), (str, int)):
            raise InputError(f"manifest line without an 'id': {str(rec)[:80]}")
        known = {f.name for f in fields(cls)} - {"extra"}
        kw: dict[str, Any] = {"id": str(rec["id"])}
        for k in known - {"id"}:
            v = rec.get(k)
            if v is None:
                continue
            want = (int,) if k == "frames" else (int, float) if k == "duration" else (str,)
            if not isinstance(v, want) or isinstance(v, bool):
                raise InputError(f"manifest line {kw['id']!r}: field {k!r} should be {want[0].__name__}, got {v!r}")
            kw[k] = resolve_path(base, v) if base is not None and k in PATH_KEYS else v
        kw["extra"] = {k: v for k, v in rec.items() if k not in known}
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """The JSON line: set fields only, then the extra ones."""
        out = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "extra" and getattr(self, f.name) is not None
        }
        return {**out, **self.extra}


def resolve_path(base: str | os.PathLike | None, path: str) -> str:
    """A manifest path made usable from the working directory (the module docstring's rule)."""
    if base is None or os.path.isabs(path):
        return path
    near = Path(base) / path
    if not near.exists() and os.path.exists(path):
        return path
    return str(near)


def read_manifest(path: str | os.PathLike, need: Sequence[str] = (), limit: int | None = None) -> list[dict[str, Any]]:
    """The lines of a manifest as dicts, each checked as a :class:`ManifestRecord`, its paths
    resolved by the one rule, the first ``limit`` only. InputError on a missing or empty file,
    or when a line lacks a field in ``need``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such manifest")
    recs = []
    for r in read_jsonl(path):
        if limit is not None and len(recs) >= limit:
            break
        ManifestRecord.from_dict(r)  # type check
        recs.append({**r, **{k: resolve_path(path.parent, r[k]) for k in PATH_KEYS if isinstance(r.get(k), str)}})
    if not recs:
        raise InputError(f"{path}: empty manifest")
    for name in need:
        missing = [r.get("id", "?") for r in recs if not r.get(name)]
        if missing:
            raise InputError(f"{path}: {len(missing)} of {len(recs)} lines have no {name!r} (first: {missing[0]})")
    return recs
