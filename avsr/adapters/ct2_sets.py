"""The CTranslate2 folders of adapter sets: each set's LoRA merged into a copy of the Whisper's
weights (``W + B A alpha/r``), converted once by CTranslate2's converter into the converted-model
cache of :mod:`avsr.whisper.ct2_cache` (keyed by the Whisper and the set's content), then run by
:class:`~avsr.whisper.ct2_engine.CT2Whisper`.

- :class:`TorchSets`: the folders of a PyTorch :class:`~avsr.adapters.torch_bank.AVWhisper`'s
  frozen Whisper and sets (a set made in this process and not saved included);
- :class:`RegistrySets`: the folders of a registry Whisper and the sets in some folders (what
  :class:`~avsr.adapters.ct2_bank.CT2Bank` runs; PyTorch only to build a folder the first time).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from avsr.core.registry import quiet_transformers
from avsr.whisper.ct2_cache import (
    cache_root,
    cached_set,
    convert_torch,
    folder_hash,
    registry_folder,
    registry_key,
)
from avsr.whisper.frozen import NO_SET


def merged_whisper(av, name: str):
    """A copy of ``av``'s Whisper with set ``name``'s LoRA merged into its weights."""
    import copy

    peft = copy.deepcopy(av.peft)
    peft.base_model.set_adapter(name)
    return peft.merge_and_unload(adapter_names=[name])


class TorchSets:
    """The CTranslate2 folders of a PyTorch :class:`~avsr.adapters.torch_bank.AVWhisper`'s frozen Whisper and
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
            with quiet_transformers():
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


class RegistrySets:
    """The CTranslate2 folders of registry Whisper ``whisper`` and the sets in ``folders``: the
    registry's own model for ``none``; a set's cached folder (keyed by the Whisper's sha256 and the
    set's content hash), converted once through PyTorch (:class:`TorchSets`)
    when the cache has no whole one."""

    def __init__(self, whisper: str, folders: dict[str, Path], cache: str | os.PathLike | None = None):
        self.whisper, self.folders, self.cache = whisper, folders, cache_root(cache)

    def __call__(self, name: str = NO_SET) -> Path:
        if name == NO_SET:
            return registry_folder(self.whisper, self.cache)
        folder = self.folders[name]
        return cached_set(
            self.cache,
            registry_key(self.whisper),
            name,
            folder_hash(folder),
            lambda tmp: self._convert(name, tmp),
        )

    def _convert(self, name: str, tmp: Path) -> None:
        """The set's LoRA (checked when the set was added) merged into the registry Whisper, converted."""
        from peft import PeftModel

        from avsr.whisper.load import load_whisper

        model, proc = load_whisper(self.whisper)
        with quiet_transformers():
            peft = PeftModel.from_pretrained(model, str(self.folders[name]), adapter_name=name, is_trainable=False)
            merged = peft.merge_and_unload(adapter_names=[name])
        convert_torch(merged, proc, tmp)


def ct2_engine(av, compute_type: str = "float32", threads: int = 0, cache: str | os.PathLike | None = None):
    """The CTranslate2 engine of PyTorch bank ``av``: its frozen Whisper and sets converted from
    its weights (:class:`TorchSets`), its tokenizer and generation length."""
    from avsr.whisper.ct2_engine import CT2Whisper

    return CT2Whisper.of(av.whisper, av.processor, TorchSets(av, cache), compute_type, threads)
