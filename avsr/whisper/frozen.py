"""The frozen Whisper as the rooms above the runtime see it: its name among the models an engine
runs, and its lower encoder as a noise head reads it, in either runtime."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

NO_SET = "none"  # the plain frozen Whisper: no adapter set active


@dataclass(frozen=True)
class FrozenEncoder:
    """The frozen Whisper's encoder in one of the two runtimes: ``module`` (a transformers
    Whisper) with ``plain``, a context in which no adapter set is active (LoRA on the lower blocks
    must not change what a noise head reads); or ``arrays``, the CTranslate2 model's encoder
    arrays (:func:`avsr.whisper.ct2_file.read_ct2`), for NumPy."""

    module: Any = None
    plain: Callable[[], AbstractContextManager] = nullcontext
    arrays: dict[str, Any] | None = None
