"""Router: the noise classifier's output -> the name of an adapter set, through a rule table.

Rules are tried in order; the first whose conditions all hold wins::

    rules:
      - {category: clean, adapter: none}
      - {snr_min: 20, adapter: snr-high}          # any category, SNR >= 20 dB
      - {category: babble, min_prob: 0.8, adapter: babble}   # the head at least 80% sure of babble
      - {snr_max: 5, adapter: snr-low}            # SNR < 5 dB
    default: none

``none`` means the plain frozen Whisper. A rule that names a set which is not installed is
skipped (the next rule, then ``default``, is used), and the decision says why.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsr.core.errors import ConfigError
from avsr.whisper.frozen import NO_SET as NO_ADAPTER  # the plain frozen Whisper

ROUTER_FILE = "router.yaml"  # the routing table that comes with a folder of adapter sets


@dataclass(frozen=True)
class Rule:
    adapter: str
    category: str | None = None
    snr_min: float | None = None  # inclusive
    snr_max: float | None = None  # exclusive
    min_prob: float | None = None  # the head's probability of its category, at least (unsure: the rule does not fire)

    def matches(self, category: str, snr: float, prob: float = 1.0) -> bool:
        return (
            (self.category is None or self.category == category)
            and (self.snr_min is None or snr >= self.snr_min)
            and (self.snr_max is None or snr < self.snr_max)
            and (self.min_prob is None or prob >= self.min_prob)
        )


@dataclass(frozen=True)
class RouterConfig:
    rules: tuple[Rule, ...] = (
        Rule(NO_ADAPTER, category="clean"),
        Rule("babble", category="babble"),
        Rule("music", category="music"),
        Rule("noise", category="noise"),
        Rule("sidespeaker", category="sidespeaker"),
    )
    default: str = NO_ADAPTER

    @classmethod
    def from_yaml(cls, path) -> RouterConfig:
        """A router table file: the rules at the top level or under ``router:``."""
        from avsr.core.configs import load_yaml

        d = load_yaml(path)
        return cls.from_dict(d.get("router", d))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RouterConfig:
        allowed = set(Rule.__dataclass_fields__)
        rules = []
        for i, r in enumerate(d.get("rules", [])):
            bad = set(r) - allowed
            if bad or "adapter" not in r:
                raise ConfigError(f"router rule {i}: needs 'adapter' and only {sorted(allowed)} (got {sorted(r)})")
            rules.append(Rule(**r))
        return cls(tuple(rules), d.get("default", NO_ADAPTER))


def sets_router(adapters: str | os.PathLike | None) -> Path | None:
    """The routing table that came with a folder of adapter sets (its ``router.yaml``: rules
    measured for those sets), or None."""
    path = Path(adapters) / ROUTER_FILE if adapters else None
    return path if path is not None and path.is_file() else None


@dataclass
class Decision:
    adapter: str
    rule: int | None  # index of the rule that decided; None: the default
    skipped: list[str] = field(default_factory=list)  # sets named by matching rules but not installed


def route(cfg: RouterConfig, category: str, snr: float, installed: Iterable[str], prob: float = 1.0) -> Decision:
    """The first rule that matches the head's ``category`` (with probability ``prob``) and ``snr``."""
    have = set(installed) | {NO_ADAPTER}
    skipped = []
    for i, r in enumerate(cfg.rules):
        if r.matches(category, snr, prob):
            if r.adapter in have:
                return Decision(r.adapter, i, skipped)
            skipped.append(r.adapter)
    return Decision(cfg.default if cfg.default in have else NO_ADAPTER, None, skipped)
