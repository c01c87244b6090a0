"""Adapter set folders, read without loading a model (no torch): what a set is, its metadata,
the sets of a folder. :class:`~avsr.adapters.torch_bank.AVWhisper` loads them into PyTorch;
:class:`~avsr.adapters.ct2_bank.CT2Bank` runs audio-only sets on CTranslate2 alone.

A set lives in a folder named after its scenario::

    adapters/babble/
      adapter_config.json, adapter_model.safetensors   peft LoRA (a standard peft adapter folder)
      fusion.safetensors, fusion_config.json           only for audio-visual sets
      avsr_adapter.json                                scenario, training noise, Whisper it fits, sizes
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from avsr.core.errors import AvsrError, MissingModelError
from avsr.whisper.frozen import NO_SET

NO_ADAPTER = NO_SET  # the set name that means no set: the plain frozen Whisper
ADAPTER_META = "avsr_adapter.json"
FUSION_WEIGHTS, FUSION_CONFIG = "fusion.safetensors", "fusion_config.json"
# the sizes a set was made for: it loads only into a Whisper of the same
SIGNATURE = ("d_model", "encoder_layers", "decoder_layers", "vocab_size", "num_mel_bins")


class AdapterError(AvsrError, ValueError):
    pass


def read_set_meta(folder: str | os.PathLike) -> dict[str, Any]:
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterError(f"{folder}: no such adapter set folder")
    missing = [
        f for f in (ADAPTER_META, "adapter_config.json", "adapter_model.safetensors") if not (folder / f).is_file()
    ]
    if missing:
        raise AdapterError(
            f"{folder}: not an avsr adapter set (missing {', '.join(missing)}); sets are written by `avsr train av`"
        )
    for name in (ADAPTER_META, "adapter_config.json"):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AdapterError(f"{folder / name}: unreadable ({e})") from e
        if not isinstance(data, dict):
            raise AdapterError(f"{folder / name}: expected a JSON object")
        if name == ADAPTER_META:
            meta = data
    meta.setdefault("whisper", {})
    return meta


def list_sets(root: str | os.PathLike) -> list[tuple[str, dict[str, Any]]]:
    """(name, metadata) of every adapter set folder directly under ``root``."""
    root = Path(root)
    return (
        [(p.name, read_set_meta(p)) for p in sorted(root.iterdir()) if p.is_dir() and (p / ADAPTER_META).is_file()]
        if root.is_dir()
        else []
    )


def _fmt(sig: dict[str, Any]) -> str:
    return (
        f"d_model={sig.get('d_model')}, layers={sig.get('encoder_layers')}/{sig.get('decoder_layers')}, "
        f"vocab={sig.get('vocab_size')}"
    )


def set_folders(adapters: str | os.PathLike) -> list[Path]:
    """The set folders of ``adapters``: the folder itself when it is one set, else every set in it;
    MissingModelError when there is none."""
    root = Path(adapters)
    found = [root] if (root / ADAPTER_META).is_file() else [root / n for n, _ in list_sets(root)]
    if not found:
        raise MissingModelError(
            f"{adapters}: no adapter sets here (a set is a folder with {ADAPTER_META}; `avsr train av` writes them)"
        )
    return found


def folder_has_fusion(folder: str | os.PathLike) -> bool:
    """Whether the set in ``folder`` is audio-visual (it carries a fusion module)."""
    return (Path(folder) / FUSION_WEIGHTS).is_file()


def signature_error(folder: Path, meta: dict[str, Any], whisper_name: str, sig: dict[str, int]) -> AdapterError:
    """The error for a set made for another Whisper than the loaded one (signature ``sig``)."""
    return AdapterError(
        f"{folder}: adapter set made for Whisper {meta['whisper'].get('name') or meta['whisper']} "
        f"({_fmt(meta['whisper'])}), but the loaded Whisper is {whisper_name or '?'} ({_fmt(sig)})"
    )
