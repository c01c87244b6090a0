"""Named models (checkpoints/registry.yaml): where each comes from, its sha256, and a local
converted cache so that a slow conversion (e.g. GGUF de-quantisation) happens once."""

from __future__ import annotations

import importlib.util
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from avsr.core.errors import CheckpointError, UsageError
from avsr.core.files import build_dir, sha256

log = logging.getLogger(__name__)
REGISTRY = Path(__file__).resolve().parents[2] / "checkpoints" / "registry.yaml"


def cache_dir() -> Path:
    """``$AVSR_CACHE`` or ``~/.cache/avsr``."""
    return Path(os.environ.get("AVSR_CACHE", Path.home() / ".cache" / "avsr"))


@lru_cache(maxsize=1)
def registry() -> dict[str, dict[str, Any]]:
    import yaml

    with open(REGISTRY, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def registered_files(name: str) -> list[Path]:
    """The files of a registry entry, located in the installed packages that ship them (not
    yet verified: see :func:`verified_files`)."""
    if name not in registry():
        raise CheckpointError(f"{name!r} is not a registered model; `avsr models` lists them")
    e = registry()[name]
    out = []
    for f in e["files"]:
        if "local" in f:  # shipped in this repository (checkpoints/...)
            path = REGISTRY.parent.parent / f["local"]
            if not path.is_file():
                raise CheckpointError(f"{path}: missing from this checkout (it ships with avsr: {e['install']})")
            out.append(path)
            continue
        spec = importlib.util.find_spec(f["package"])  # locates the package without importing it
        if spec is None or not spec.origin:
            raise CheckpointError(f"model {name!r} needs the package {f['package']!r}: {e['install']}")
        path = Path(spec.origin).parent / f["path"]
        if not path.is_file():
            raise CheckpointError(f"{path}: missing from package {f['package']!r}; reinstall it: {e['install']}")
        out.append(path)
    return out


def verified_files(name: str) -> list[Path]:
    """:func:`registered_files` after checking each one's sha256 against the registry."""
    paths = registered_files(name)
    for path, f in zip(paths, registry()[name]["files"]):
        got = sha256(path)
        if got != f["sha256"]:
            raise CheckpointError(
                f"{path}: sha256 {got[:16]}... does not match the registry's {f['sha256'][:16]}... for {name!r}"
            )
    return paths


def shipped(kind: str, whisper: str) -> Path | None:
    """The folder of the shipped model of ``kind`` (``adapter-sets``, ``noise-head``) made for
    ``whisper``, its files' sha256 verified; None when none ships for that Whisper."""
    for name, e in registry().items():
        if e.get("kind") == kind and e.get("whisper") == whisper:
            verified_files(name)
            return REGISTRY.parent.parent / e["folder"]
    return None


def portable_name(path: str | os.PathLike) -> str:
    """A model path as an output record names it: a shipped model by its registry name (and the
    file inside it: ``whisper-base-adapters/router.yaml``), so records do not carry one machine's
    install path; any other path as given."""
    p = Path(path).resolve()
    for name, e in registry().items():
        if "folder" in e:
            folder = (REGISTRY.parent.parent / e["folder"]).resolve()
            if p == folder or folder in p.parents:
                rel = p.relative_to(folder).as_posix()
                return name if rel == "." else f"{name}/{rel}"
    return os.fspath(path)


def converted_dir(name: str) -> Path:
    """Where the one-off conversion of a registry entry lives in the cache."""
    return cache_dir() / "models" / f"{name}-{registry()[name]['files'][0]['sha256'][:12]}"


def convert_once(name: str, convert: Callable[[list[Path], Path], None]) -> Path:
    """The cached conversion of a registry entry: on first use its files are verified and
    ``convert(files, tmp_folder)`` writes the folder, which is renamed into place only when
    complete (an interrupted conversion leaves nothing that a later run would trust)."""
    target = converted_dir(name)
    hold_cache(target.parent)
    started: list[float] = []

    def build(tmp: Path) -> None:
        src = verified_files(name)
        started.append(time.monotonic())
        log.info("converting %s (%s) once into %s", name, ", ".join(p.name for p in src), target)
        with quiet_transformers():
            convert(src, tmp)

    out = build_dir(target, build, lambda p: (p / "config.json").is_file())
    if started:
        note_conversion(name, out, time.monotonic() - started[0])
    return out


# ----- the cache's console output, lock and size


@contextmanager
def quiet_transformers(logs: bool = True) -> Iterator[None]:
    """transformers' progress bars ("Loading weights", "Writing model shards"), its info and
    warning logs (``logs=False``: kept, e.g. for weights a user's folder lacks), and the
    FutureWarning that peft's wrapping raises through it (``is_gradient_checkpointing``) are off
    inside the block, for avsr's own loads and conversions; the previous state (verbosity, a tqdm
    hook of the user's) comes back after, so a user's own transformers use outside the block is
    not touched."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    previous_hook = hf_logging.set_tqdm_hook(lambda factory, args, kwargs: hf_logging.EmptyTqdm(*args, **kwargs))
    if logs:
        hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
            yield
    finally:
        hf_logging.set_tqdm_hook(previous_hook)
        hf_logging.set_verbosity(verbosity)


LOCK = ".in-use.lock"  # in each cache folder (models/, ct2/): shared while a run uses it
_held: dict[Path, IO] = {}


def hold_cache(folder: Path) -> None:
    """Take a shared lock on cache ``folder`` for the rest of this process (made if need be), so
    that ``avsr cache --clear`` refuses to remove what this run converts or loads; waits while a
    clear is removing it."""
    import fcntl

    folder = Path(folder)
    if folder.resolve() in _held:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        f = open(folder / LOCK, "a")
    except OSError:  # a read-only cache (shared, made beforehand): used as it is, nobody here clears it
        return
    fcntl.flock(f, fcntl.LOCK_SH)
    _held[folder.resolve()] = f


@contextmanager
def exclusive_cache(folders: list[Path]) -> Iterator[None]:
    """Exclusive locks on cache ``folders`` (those that exist) for the block; UsageError at once
    when another avsr process holds one (it is converting or running from the cache)."""
    import fcntl

    files = []
    try:
        for folder in folders:
            if not folder.is_dir():
                continue
            own = _held.pop(folder.resolve(), None)
            if own is not None:  # this process's own shared lock: it asked for the clear
                own.close()
            f = open(folder / LOCK, "a")
            files.append(f)
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(
                    f"{folder} is in use by another avsr run (a transcription, evaluation or conversion); "
                    "clear the cache when it has finished"
                ) from None
        yield
    finally:
        for f in files:
            f.close()


def folder_bytes(path: Path) -> int:
    """The bytes of the files under ``path`` (symbolic links not followed)."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def human_bytes(n: float) -> str:
    """``n`` bytes as ``du -h`` counts them (1024-based): ``281 MB``, ``1.1 GB``."""
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def note_conversion(what: str, folder: Path, seconds: float) -> None:
    """The one line a conversion into the cache prints (a warning: shown without -v): what, where,
    how big, what the whole cache holds now and how to clear it."""
    log.warning(
        "converted %s once into %s: %s in %.0f s, cache now %s (`avsr cache` lists it, `--clear` removes it)",
        what,
        folder,
        human_bytes(folder_bytes(folder)),
        seconds,
        human_bytes(folder_bytes(cache_dir())),
    )


def _convert_gguf(src: list[Path], out: Path) -> None:
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = src[0]
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers will not save_pretrained a GGUF-loaded model: write its parts directly
    model.config.save_pretrained(str(out))
    model.generation_config.save_pretrained(str(out))
    save_model(model, str(out / "model.safetensors"))
    tok.save_pretrained(str(out))


def resolve_llm(base: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """(path or hub id, gguf file name or None) to give to ``from_pretrained``. A registry
    name is verified and converted once into the cache (safetensors), then read from there."""
    if os.path.isdir(base) or base not in registry():
        return base, gguf_file  # a folder, or a hub id (needs network access unless in the HF cache)
    return str(convert_once(base, _convert_gguf)), None


PUBLISHED = REGISTRY.parent / "published.yaml"


@lru_cache(maxsize=1)
def published() -> dict[str, dict[str, Any]]:
    """Families of other projects' checkpoints that users download (``checkpoints/published.yaml``)."""
    import yaml

    if not PUBLISHED.is_file():
        return {}
    with open(PUBLISHED, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def published_entries(name: str) -> list[dict[str, Any]]:
    """The ``checkpoints/published.yaml`` entries with a checksum whose file name is ``name`` (one
    per release that uses that name; none when the name is not a published one)."""
    return [
        f
        for family in published().values()
        for f in family.get("files", [])
        if os.path.basename(f["file"]) == name and "md5_prefix" in f
    ]


def check_published(path: str | os.PathLike, entries: list[dict[str, Any]], md5: str) -> dict[str, Any]:
    """The entry of ``entries`` (same published name) whose md5 prefix ``md5`` (of ``path``) starts
    with; CheckpointError when none does."""
    for entry in entries:
        if md5.startswith(str(entry["md5_prefix"])):
            return entry
    first = entries[0]
    sums = " or ".join(f"{e['md5_prefix']}... ({e.get('release', 'published')})" for e in entries)
    raise CheckpointError(
        f"{path}: md5 {md5[:8]}... is not the published {first['file']} (md5 {sums}): "
        f"an incomplete download? Fetch it again from {first['url']}"
    )
