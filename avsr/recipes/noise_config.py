"""The package list of the noise corpus (``configs/corpus/noise.yaml``) as frozen dataclasses.

A YAML file::

    piece_seconds: 30          # cut recordings into pieces of at most this
    packages:
      - name: wesnoth-1.16-music
        registry: deb            # deb | pypi (pypi needs version)
        version: "1:1.16.9-1"    # expected version (deb: a warning when it differs)
        licence: GPL-2+
        max_minutes: 15          # stop taking files once this much audio is written
        max_file_seconds: 120    # use at most this much of each file
        select:
          - {glob: "usr/share/games/wesnoth/*/music/*.ogg", category: music, subcategory: orchestral, split: train}

``glob``: paths inside the package, ``ARCHIVE::MEMBER`` to reach into a zip / ``.cat`` archive
(``*`` also crosses ``/``); ``exclude``: globs to leave out (e.g. voices). A package is in ONE
split: the recipe splits train and test by source package. ``deb_file``: a local ``.deb`` instead
of ``apt-get download`` (relative to the config file). ``copyright``: a glob for the licence file
when the package has no Debian ``usr/share/doc/NAME/copyright`` (default: a wheel's METADATA).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avsr.core.configs import build, from_dict
from avsr.core.errors import ConfigError

# What a recording of a noise package is labelled (not the noise categories of avsr.data.mixing, which
# the mixer makes from these and from speech); crowd: real crowd beds (used inside the babble category)
RECORDING_LABELS = ("music", "noise", "crowd")
SPLITS = ("train", "test")
REGISTRIES = ("deb", "pypi")


@dataclass(frozen=True)
class Selection:
    """Files of a package with one label: ``category`` in RECORDING_LABELS, ``split`` in SPLITS;
    ``glob``: one glob or a list of them."""

    glob: str | tuple[str, ...]
    category: str
    subcategory: str = ""
    split: str = "train"
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "glob", (self.glob,) if isinstance(self.glob, str) else tuple(self.glob))
        if not self.glob:
            raise ConfigError("selection without a glob")
        if self.category not in RECORDING_LABELS:
            raise ConfigError(f"selection {self.glob!r}: category {self.category!r} not in {RECORDING_LABELS}")
        if self.split not in SPLITS:
            raise ConfigError(f"selection {self.glob!r}: split {self.split!r} not in {SPLITS}")


@dataclass(frozen=True)
class PackageSpec:
    """One source package and what to take from it (see the module docstring)."""

    name: str
    registry: str = "deb"
    version: str | None = None
    licence: str = ""
    select: tuple[Selection, ...] = ()
    max_minutes: float | None = None
    max_file_seconds: float | None = None
    deb_file: str | None = None
    copyright: str | None = None

    def __post_init__(self) -> None:
        if self.registry not in REGISTRIES:
            raise ConfigError(f"package {self.name!r}: registry {self.registry!r} not in {REGISTRIES}")
        if self.registry == "pypi" and not self.version:
            raise ConfigError(f"package {self.name!r}: a PyPI package needs a pinned version")
        if not self.select:
            raise ConfigError(f"package {self.name!r}: no selections")
        splits = {s.split for s in self.select}
        if len(splits) > 1:
            raise ConfigError(f"package {self.name!r} is in both splits; the corpus splits by package")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PackageSpec:
        data = dict(data)
        if not isinstance(data.get("select"), list):
            raise ConfigError(f"package {data.get('name')!r}: 'select' must be a list of selections")
        data["select"] = tuple(from_dict(Selection, s) for s in data["select"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"package {data.get('name')!r}: unknown field(s) {unknown}; known: {sorted(known)}")
        if data.get("version") is not None:
            data["version"] = str(data["version"])
        return cls(**data)

    @property
    def split(self) -> str:
        return self.select[0].split

    def digest(self, cfg: CorpusConfig) -> str:
        """Hash of everything that decides this package's output (a change means a rebuild)."""
        own = dataclasses.asdict(self)
        if self.deb_file:  # a rebuilt local .deb under the same name counts as a change
            own["deb_mtime"] = os.path.getmtime(self.deb_file) if os.path.exists(self.deb_file) else None
        glob = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "packages"}
        return hashlib.sha1(json.dumps([own, glob], sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class CorpusConfig:
    """The package list plus the processing rules (seconds, dBFS)."""

    packages: tuple[PackageSpec, ...] = ()
    piece_seconds: float = 30.0
    min_piece_seconds: float = 5.0
    min_seconds: float = 1.0
    silence_dbfs: float = -50.0

    def __post_init__(self) -> None:
        names = [p.name for p in self.packages]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"packages listed twice: {dup}")
        if not 0 < self.min_piece_seconds <= self.piece_seconds:
            raise ConfigError("need 0 < min_piece_seconds <= piece_seconds")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusConfig:
        data = dict(data)
        pk = data.get("packages")
        if not isinstance(pk, list) or not pk:
            raise ConfigError("the config needs a non-empty 'packages' list")
        data["packages"] = tuple(PackageSpec.from_dict(p) for p in pk)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: v if k == "packages" else float(v) for k, v in data.items()})


def load_config(path: str | os.PathLike) -> CorpusConfig:
    """The config at ``path``; a relative ``deb_file`` is taken relative to the file's folder."""
    cfg = build(CorpusConfig, path)
    base = Path(path).parent
    pk = tuple(
        dataclasses.replace(p, deb_file=str(base / p.deb_file)) if p.deb_file and not os.path.isabs(p.deb_file) else p
        for p in cfg.packages
    )
    return dataclasses.replace(cfg, packages=pk)
