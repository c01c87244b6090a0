"""The cache of CTranslate2 Whisper folders, one per Whisper and adapter set, made once.

- the frozen Whisper of the registry is its own package files (faster-whisper's format; a
  model.bin split across packages is joined once);
- any other Whisper, and every adapter set, is converted from the PyTorch model: the set's LoRA
  merged into a copy of the weights (``W + B A alpha/r``), then CTranslate2's own converter.

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

MARK = "avsr_ct2.json"
NO_SET = "none"
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


def merged_whisper(av, name: str):
    """A copy of ``av``'s Whisper with set ``name``'s LoRA merged into its weights."""
    import copy

    peft = copy.deepcopy(av.peft)
    peft.base_model.set_adapter(name)
    return peft.merge_and_unload(adapter_names=[name])


class TorchSets:
    """The CTranslate2 folders of a PyTorch :class:`~avsr.av.model.AVWhisper`'s frozen Whisper and
    sets: converted from its weights (LoRA merged) when the cache has no whole folder."""

    def __init__(self, av, cache: str | os.PathLike | None = None):
        self.av, self.cache = av, cache_root(cache)

    def whisper_key(self) -> str:
        from avsr.core.registry import registry

        if self.av.whisper_name in registry():
            return registry_key(self.av.whisper_name)
        return (
            "w"
            + hashlib.sha256(
                b"".join(p.detach().cpu().numpy().tobytes() for p in self.av.whisper.parameters())
            ).hexdigest()[:32]
        )

    def __call__(self, name: str = NO_SET) -> Path:
        """The CTranslate2 folder of set ``name`` (``none``: the frozen Whisper), built if need be."""
        from avsr.core.registry import registry

        wname = self.av.whisper_name
        if name == NO_SET and wname in registry() and registry()[wname].get("kind") == "whisper":
            return registry_folder(wname, self.cache)

        def build(tmp: Path) -> None:
            model = self._plain_copy() if name == NO_SET else merged_whisper(self.av, name)
            convert_torch(model, self.av.processor, tmp)

        return cached_set(self.cache, self.whisper_key(), name, self.set_hash(name), build)

    def set_hash(self, name: str) -> str:
        if name == NO_SET:
            return "frozen"
        folder = self.av.folders.get(name)
        if folder is not None and folder.is_dir():
            return folder_hash(folder)
        # a set made in this process and not saved: hash its LoRA weights
        return (
            "m"
            + hashlib.sha256(
                b"".join(
                    p.detach().cpu().numpy().tobytes()
                    for n, p in sorted(self.av.whisper.named_parameters())
                    if f".{name}." in n and "lora_" in n
                )
            ).hexdigest()
        )

    def _plain_copy(self):
        import copy

        if self.av.peft is None:
            return self.av.whisper
        return copy.deepcopy(self.av.peft).unload()


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
