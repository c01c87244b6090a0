"""YAML configs for frozen dataclasses: a file lists only the fields it changes, and
``key=value`` overrides on the command line change single fields. YAML is read with
``yaml.safe_load``: a config never executes anything."""

from __future__ import annotations

import dataclasses
import os
from typing import Any, TypeVar

from avsr.core.errors import ConfigError

T = TypeVar("T")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b": {"c": "x"}}``; values are parsed as YAML scalars."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value) if value.strip() else None
    return out


def load_yaml(path: str | os.PathLike | None) -> dict[str, Any]:
    """A YAML mapping. ``base: other.yaml`` (relative to this file) is loaded first and this
    file's keys are merged over it, so an experiment file lists only what it changes."""
    import yaml

    if path is None:
        return {}
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of field: value")
    base = data.pop("base", None)
    if base:
        parent = load_yaml(os.path.join(os.path.dirname(os.path.abspath(path)), base))
        data = deep_merge(parent, data)
    return data


def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``b`` over ``a``; nested mappings merge, everything else is replaced."""
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a (nested) frozen dataclass from plain data. Nested dataclass fields take
    mappings; tuple fields take lists; a class's own ``from_dict`` is used when it has one;
    unknown keys are refused. Fields typed ``dict`` are passed through as they are."""
    import typing

    if hasattr(cls, "from_dict"):  # a class with its own rules (e.g. VSRConfig's presets)
        return cls.from_dict(data)  # type: ignore[attr-defined]
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}; known: {', '.join(known)}")
    kw = {}
    for k, v in data.items():
        t = hints[k]
        if dataclasses.is_dataclass(t) and isinstance(v, dict):
            v = from_dict(t, v)
        elif typing.get_origin(t) is tuple and isinstance(v, list):
            v = tuple(v)
        elif typing.get_origin(t) is tuple and isinstance(v, str) and typing.get_args(t)[:1] == (str,):
            v = (v,)  # one path where a list of paths is accepted
        elif t is float and isinstance(v, (int, str)) and not isinstance(v, bool):
            v = float(v)  # YAML 1.1 reads "2e-3" as a string
        kw[k] = v
    return cls(**kw)


def build(cls: type[T], path: str | os.PathLike | None = None, overrides: list[str] | None = None, **fields: Any) -> T:
    """A ``cls`` (frozen dataclass with ``from_dict``) from defaults <- YAML file <- overrides
    <- keyword fields; unknown keys are refused with the list of known ones."""
    import yaml

    try:
        data = deep_merge(load_yaml(path), parse_overrides(overrides))
        data.update({k: v for k, v in fields.items() if v is not None})
        return from_dict(cls, data)
    except ConfigError:
        raise
    except (
        ValueError,
        TypeError,
        OSError,
        yaml.YAMLError,
    ) as e:  # a field a config class's own checks refuse, a bad file
        raise ConfigError(f"{path or cls.__name__}: {e}") from e
