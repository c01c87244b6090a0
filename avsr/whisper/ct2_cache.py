"""The cache of CTranslate2 Whisper folders, one per Whisper and adapter set, made once.

- the frozen Whisper of the registry is its own package files (faster-whisper's format; a
  model.bin split across packages is joined once);
- any other Whisper is converted from its PyTorch model by CTranslate2's own converter
  (:func:`convert_torch`); so is every adapter set, its LoRA merged first
  (:mod:`avsr.adapters.ct2_sets` makes those folders through this cache).

A folder's name carries the Whisper's sha256 and the set's content hash, and its
``avsr_ct2.json`` (written last, inside the folder that is renamed into place) records them with
the size of model.bin: a folder whose record is missing or does not match is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
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

    with tempfile.TemporaryDirectory(dir=out.parent) as hf:
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


def cached_set(cache: Path, whisper_key: str, name: str, set_hash: str, build) -> Path:
    """The cached CTranslate2 folder of set ``name`` of the Whisper keyed ``whisper_key``: used
    when whole, else ``build(tmp)`` writes it (then it is sealed and renamed into place)."""
    key = {"whisper": whisper_key, "set": set_hash}

    def make(tmp: Path) -> None:
        build(tmp)
        _seal(tmp, key)

    return build_dir(cache / f"{whisper_key[:24]}-{name}-{set_hash[:12]}", make, lambda p: _complete(p, key))
