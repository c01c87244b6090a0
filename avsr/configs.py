"""YAML configs for frozen dataclasses: a file lists only the fields it changes, and
``key=value`` overrides on the command line change single fields. YAML is read with
``yaml.safe_load``: a config never executes anything."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

T = TypeVar("T")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b": {"c": "x"}}``; values are parsed as YAML scalars."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value) if value.strip() else None
    return out


def load_yaml(path: str | os.PathLike | None) -> dict[str, Any]:
    import yaml

    if path is None:
        return {}
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping of field: value")
    return data


def build(cls: type[T], path: str | os.PathLike | None = None, overrides: list[str] | None = None, **fields: Any) -> T:
    """A ``cls`` (frozen dataclass with ``from_dict``) from defaults <- YAML file <- overrides
    <- keyword fields; unknown keys are refused with the list of known ones."""
    data = load_yaml(path)
    data.update(parse_overrides(overrides))
    data.update({k: v for k, v in fields.items() if v is not None})
    if hasattr(cls, "from_dict"):
        return cls.from_dict(data)  # type: ignore[attr-defined]
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(**data)
