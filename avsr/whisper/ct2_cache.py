"""The cache of CTranslate2 Whisper folders, one per Whisper and adapter set, made once.

- the frozen Whisper of the registry is its own package files (faster-whisper's format; a
  model.bin split across packages is joined once);
- any other Whisper is converted from its PyTorch model by CTranslate2's own converter
  (:func:`convert_torch`); so is every adapter set, its LoRA merged first
  (:mod:`avsr.adapters.ct2_sets` makes those folders through this cache).

A folder's name carries the Whisper's sha256 and the set's content hash, and its
``avsr_ct2.json`` (written last, inside the folder that is renamed into place) records them with
the size of model.bin: a folder whose record is missing or does not match is rebuilt, never used.
:func:`cache_entries` lists the whole cache with sizes (``avsr cache``), :func:`clear_cache` empties
it, :func:`converted_folders` says what of a registry model has been made (``avsr models``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from avsr.core.files import build_dir
from avsr.whisper.frozen import NO_SET

MARK = "avsr_ct2.json"
COMPUTE_TYPES = ("float32", "int8", "int8_float32")  # CTranslate2's quantisation at load


def cache_root(cache: str | os.PathLike | None = None) -> Path:
    """Where the CTranslate2 folders live: ``cache``, or ``$AVSR_CACHE/ct2``."""
    from avsr.core.registry import cache_dir

    return Path(cache) if cache else cache_dir() / "ct2"


def content_hash(files: Sequence[str | os.PathLike]) -> str:
    """sha256 over the names and bytes of ``files`` (an adapter set's content)."""
    h = hashlib.sha256()
    for p in sorted(map(Path, files), key=lambda p: p.name):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def folder_hash(folder: Path) -> str:
    """:func:`content_hash` of the files of an adapter set's folder."""
    return content_hash([p for p in folder.iterdir() if p.is_file()])


def _complete(folder: Path, key: dict[str, str]) -> bool:
    try:
        mark = json.loads((folder / MARK).read_text())
        return mark.get("key") == key and (folder / "model.bin").stat().st_size == mark.get("model_bytes")
    except (OSError, ValueError):
        return False


def _seal(folder: Path, key: dict[str, str]) -> None:
    (folder / MARK).write_text(json.dumps({"key": key, "model_bytes": (folder / "model.bin").stat().st_size}))


def _join_registry(files: list[Path], out: Path) -> None:
    with open(out / "model.bin", "wb") as f:
        for part in files:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 22)
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json", "preprocessor_config.json"):
        if (files[0].parent / extra).is_file():
            shutil.copy2(files[0].parent / extra, out / extra)


def registry_folder(name: str, cache: str | os.PathLike | None = None) -> Path:
    """The CTranslate2 folder of registry Whisper ``name`` as faster-whisper loads it: the
    package's own folder, or (a model.bin split across packages) the parts joined once in the cache."""
    from avsr.core.registry import verified_files

    files = verified_files(name)
    if len(files) == 1 and files[0].name == "model.bin":
        return files[0].parent
    return cached_set(cache_root(cache), registry_key(name), NO_SET, "frozen", lambda tmp: _join_registry(files, tmp))


def convert_torch(whisper, processor, out: Path) -> None:
    """A transformers Whisper (LoRA already merged) -> CTranslate2 float32 in ``out``."""
    import tempfile

    from ctranslate2.converters import TransformersConverter

    from avsr.core.registry import quiet_transformers

    with tempfile.TemporaryDirectory(dir=out.parent) as hf, quiet_transformers():
        whisper.save_pretrained(hf, safe_serialization=True)
        processor.save_pretrained(hf)
        extra = [f for f in ("tokenizer.json", "preprocessor_config.json") if (Path(hf) / f).is_file()]
        TransformersConverter(hf, copy_files=extra).convert(str(out), quantization="float32", force=True)


def registry_whisper(name: str) -> bool:
    """Whether ``name`` is a Whisper of the registry (a CTranslate2 folder that PyPI packages ship)."""
    from avsr.core.registry import registry

    return registry().get(name, {}).get("kind") == "whisper"


def registry_key(name: str) -> str:
    """The cache key of registry Whisper ``name``: its files' sha256 prefixes."""
    from avsr.core.registry import registry

    return "+".join(f["sha256"][:16] for f in registry()[name]["files"])


def set_folder(cache: Path, whisper_key: str, name: str, set_hash: str) -> Path:
    """Where :func:`cached_set` keeps set ``name`` (``none``: the frozen Whisper) of that Whisper."""
    return cache / f"{whisper_key[:24]}-{name}-{set_hash[:12]}"


def cached(cache: Path, whisper_key: str, name: str, set_hash: str) -> Path | None:
    """The whole cached folder of :func:`cached_set`'s arguments, None when not made (yet)."""
    p = set_folder(cache, whisper_key, name, set_hash)
    return p if _complete(p, {"whisper": whisper_key, "set": set_hash}) else None


def cached_set(cache: Path, whisper_key: str, name: str, set_hash: str, build) -> Path:
    """The cached CTranslate2 folder of set ``name`` of the Whisper keyed ``whisper_key``: used
    when whole, else ``build(tmp)`` writes it (then it is sealed and renamed into place)."""
    from avsr.core.registry import hold_cache, note_conversion

    key = {"whisper": whisper_key, "set": set_hash}
    hold_cache(cache)
    started: list[float] = []

    def make(tmp: Path) -> None:
        started.append(time.monotonic())
        build(tmp)
        _seal(tmp, key)

    out = build_dir(set_folder(cache, whisper_key, name, set_hash), make, lambda p: _complete(p, key))
    if started:
        what = f"{whisper_label(whisper_key)} ({'frozen' if name == NO_SET else 'set ' + name}) for CTranslate2"
        note_conversion(what, out, time.monotonic() - started[0])
    return out


def whisper_label(whisper_key: str) -> str:
    """The registry name of the Whisper keyed ``whisper_key``, else ``Whisper <key prefix>`` (one
    loaded from a folder or file, keyed by its weights)."""
    from avsr.core.registry import registry

    for name in registry():
        if registry_whisper(name) and registry_key(name)[:24] == whisper_key[:24]:
            return name
    return f"Whisper {whisper_key[:13]}"


@dataclass(frozen=True)
class CacheEntry:
    """One folder of the converted-model cache: ``engine`` (``PyTorch``: a registry model
    converted for transformers; ``CTranslate2``: a Whisper x adapter set), ``model``, ``set``
    (``frozen``, a set's name, or empty), its size, and whether it is whole (an interrupted
    conversion leaves a folder that is never used)."""

    path: Path
    engine: str
    model: str
    set: str
    bytes: int
    complete: bool


def cache_entries(root: str | os.PathLike | None = None) -> list[CacheEntry]:
    """What the cache (``root``, default ``$AVSR_CACHE`` or ``~/.cache/avsr``) holds: the converted
    registry models (``models/``) and the CTranslate2 folders (``ct2/``), each with its size."""
    from avsr.core.registry import LOCK, cache_dir, converted_dir, folder_bytes, registry

    root = Path(root) if root else cache_dir()
    names = {converted_dir(n).name: n for n in registry()}
    out = []
    for p in sorted((root / "models").glob("*")) if (root / "models").is_dir() else []:
        if p.name == LOCK:
            continue
        whole = (p / "config.json").is_file() and p.name in names
        out.append(CacheEntry(p, "PyTorch", names.get(p.name, p.name), "", folder_bytes(p), whole))
    for p in sorted((root / "ct2").glob("*")) if (root / "ct2").is_dir() else []:
        if p.name == LOCK:
            continue
        try:
            key = json.loads((p / MARK).read_text())["key"]
        except (OSError, ValueError, KeyError, TypeError):
            key = None
        whole = key is not None and _complete(p, key)
        model = whisper_label(key["whisper"]) if whole else p.name
        kind = p.name.split("-", 1)[1].rsplit("-", 1)[0] if whole else ""
        out.append(CacheEntry(p, "CTranslate2", model, "frozen" if kind == NO_SET else kind, folder_bytes(p), whole))
    return out


def clear_cache(root: str | os.PathLike | None = None) -> list[CacheEntry]:
    """Remove every folder of :func:`cache_entries` (they are made again on next use) and return
    them; UsageError, removing nothing, while another avsr run uses the cache (its lock)."""
    from avsr.core.registry import cache_dir, exclusive_cache

    root = Path(root) if root else cache_dir()
    with exclusive_cache([root / "models", root / "ct2"]):
        entries = cache_entries(root)
        for e in entries:
            if e.path.is_dir() and not e.path.is_symlink():
                shutil.rmtree(e.path)
            else:
                e.path.unlink()
    return entries


def converted_folders(name: str, cache: str | os.PathLike | None = None) -> dict[str, Path | None]:
    """The folders made from registry entry ``name`` (None: not made yet; ``avsr models``): for a
    Whisper, ``PyTorch`` (converted for transformers) and ``CTranslate2`` (the package's own
    folder, or its parts joined once); for an LLM, ``PyTorch``; for shipped adapter sets, each
    set's CTranslate2 folder (its LoRA merged, converted on first use); nothing for a noise head
    (used as shipped)."""
    from avsr.core.registry import REGISTRY, converted_dir, registered_files, registry

    e = registry()[name]
    torch_dir = converted_dir(name) if (converted_dir(name) / "config.json").is_file() else None
    if e.get("kind") == "llm":
        return {"PyTorch": torch_dir}
    if e.get("kind") == "whisper":
        files = registered_files(name)
        own = files[0].parent if len(files) == 1 and files[0].name == "model.bin" else None
        return {
            "PyTorch": torch_dir,
            "CTranslate2": own or cached(cache_root(cache), registry_key(name), NO_SET, "frozen"),
        }
    if e.get("kind") == "adapter-sets" and registry_whisper(e.get("whisper", "")):
        root = REGISTRY.parent.parent / e["folder"]
        sets = sorted(p for p in root.iterdir() if (p / "adapter_config.json").is_file())
        return {p.name: cached(cache_root(cache), registry_key(e["whisper"]), p.name, folder_hash(p)) for p in sets}
    return {}
