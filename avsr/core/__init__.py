"""The ground floor (floor 0): what every stage may import; it imports no stage.

- :mod:`~avsr.core.media`: rates, crop sizes and extensions named once; opening media; one look
  at a file (``probe`` -> ``MediaInfo``);
- :mod:`~avsr.core.video`, :mod:`~avsr.core.audio`: decoding and writing video / audio (both in
  one pass when needed: ``iter_frames(audio=AudioSpool())``), crop files, the one RGB-to-grey
  conversion;
- :mod:`~avsr.core.files`: atomic writes, sha256;
- :mod:`~avsr.core.jsonl`: JSONL read / write / append (resumable);
- :mod:`~avsr.core.manifest`: the manifest record (``ManifestRecord``) and its one path rule;
- :mod:`~avsr.core.errors`: ``AvsrError``, the base of every avsr error, and the exit codes;
- :mod:`~avsr.core.metrics`: edit counts, error rates, alignment, bootstrap intervals;
- :mod:`~avsr.core.segments`: cutting long audio at pauses;
- :mod:`~avsr.core.padding`: the one padding helper;
- :mod:`~avsr.core.configs`: YAML -> frozen dataclass configs;
- :mod:`~avsr.core.store`, :mod:`~avsr.core.registry`: self-describing checkpoints (builders
  registered by model kind) and the registered offline models;
- :mod:`~avsr.core.jobs`, :mod:`~avsr.core.pool`: the resumable job runner's parts (inputs, lock)
  and its worker processes (per-input time limit, start-up not counted);
- :mod:`~avsr.core.version`: ``__version__``.
"""

__all__ = [
    "media",
    "video",
    "audio",
    "files",
    "jsonl",
    "manifest",
    "errors",
    "metrics",
    "segments",
    "padding",
    "configs",
    "store",
    "registry",
    "jobs",
    "pool",
    "version",
]
