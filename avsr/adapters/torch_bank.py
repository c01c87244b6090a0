"""The adapter bank in PyTorch (:class:`~avsr.adapters.bank.AdapterBank`): one frozen Whisper and
named adapter sets, one per noise scenario; what training builds and saves.

An adapter set is LoRA on Whisper (peft) plus, for audio-visual sets, its own
:class:`~avsr.adapters.fusion.AVFusion`. One set is active at a time (``activate``); ``none`` is the
plain frozen Whisper. A set lives in a folder named after its scenario (:mod:`avsr.adapters.sets`).
Loading refuses a folder that is not a set, and a set made for another Whisper. Decoding runs on
the PyTorch engine (:mod:`avsr.whisper.torch_engine`) or, after :meth:`AVWhisper.use_ct2`, on
CTranslate2 (the fusion stays here).
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from avsr.adapters.bank import AdapterBank
from avsr.adapters.fusion import AVFusion, FusionConfig
from avsr.adapters.sets import (
    ADAPTER_META,
    FUSION_CONFIG,
    FUSION_WEIGHTS,
    NO_ADAPTER,
    SIGNATURE,
    AdapterError,
    read_set_meta,
    signature_error,
)
from avsr.core.configs import from_dict
from avsr.core.errors import ConfigError
from avsr.whisper.decoding import DecodingOptions, Hypothesis
from avsr.whisper.frozen import FrozenEncoder
from avsr.whisper.mel_torch import whisper_input


@dataclass(frozen=True)
class LoraSetConfig:
    """LoRA on Whisper's attention and MLP projections. ``scope``: ``all`` layers, or only the
    ``encoder`` (acoustic adaptation; the decoder's language model stays as it is, which keeps a
    set trained on few utterances from memorising their text), or only the ``decoder``."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
    scope: str = "all"
    fusion: bool = False  # audio-visual set (adds an AVFusion)
    skip_encoder_layers: int = 0  # the first N encoder blocks stay frozen (the noise head reads them)

    def __post_init__(self) -> None:
        if self.scope not in ("all", "encoder", "decoder"):
            raise ConfigError(f"LoraSetConfig.scope must be all, encoder or decoder, got {self.scope!r}")

    def targets(self) -> list[str] | str:
        """peft ``target_modules``: the names, or a regex restricted to one side and, in the
        encoder, to the blocks from ``skip_encoder_layers`` on."""
        if self.scope == "all" and self.skip_encoder_layers == 0:
            return list(self.target_modules)
        skip = "|".join(str(i) for i in range(self.skip_encoder_layers))
        frozen = r"(?!(?:" + skip + r")\.)" if skip else ""
        enc = r"encoder\.layers\." + frozen + r"\d+"
        sides = {"all": [enc, r"decoder\.layers\.\d+"], "encoder": [enc], "decoder": [r"decoder\.layers\.\d+"]}
        return rf".*\.(?:{'|'.join(sides[self.scope])})\..*({'|'.join(self.target_modules)})"


def whisper_signature(whisper) -> dict[str, int]:
    c = whisper.config
    return {k: int(getattr(c, k)) for k in SIGNATURE}


class AVWhisper(AdapterBank, nn.Module):
    """The PyTorch adapter bank (and the model that trains a set: :meth:`forward` is its loss)."""

    def __init__(self, whisper, processor, whisper_name: str = "", fusion: FusionConfig | None = None):
        super().__init__()
        for p in whisper.parameters():
            p.requires_grad_(False)
        self.whisper, self.processor, self.whisper_name = whisper, processor, whisper_name
        self.peft = None  # PeftModel around whisper once a set exists
        self.fusions = nn.ModuleDict()
        self.meta: dict[str, dict[str, Any]] = {}
        self.folders: dict[str, Path] = {}  # where each loaded set came from
        self.ct2 = None  # a CT2Whisper once use_ct2() is called
        self.active = NO_ADAPTER
        self.n_mels = whisper.config.num_mel_bins

    # ----- adapter bank
    def add_set(
        self,
        name: str,
        cfg: LoraSetConfig = LoraSetConfig(),
        fusion: FusionConfig | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        """A new, untrained set (LoRA B = 0, fusion output = 0: the model's output is unchanged)."""
        from peft import LoraConfig, get_peft_model

        from avsr.core.registry import quiet_transformers

        if name == NO_ADAPTER or name in self.meta or not name or "/" in name:
            raise AdapterError(f"adapter set name {name!r} is reserved, taken or not a folder name")
        lc = LoraConfig(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=cfg.targets())
        if self.peft is None:
            with quiet_transformers(logs=False):  # peft's wrapping: no transformers FutureWarning
                self.peft = get_peft_model(self.whisper, lc, adapter_name=name)
        else:
            self.peft.add_adapter(name, lc)
        if cfg.fusion or fusion is not None:
            self.fusions[name] = AVFusion(fusion or FusionConfig(n_mels=self.n_mels))
        self.meta[name] = {"scenario": name, **(info or {})}
        self.train(self.training)  # new LoRA dropout / fusion modules follow the model's mode
        self.activate(name)

    def _switch(self, name: str) -> None:
        if self.peft is not None and name != NO_ADAPTER:  # no weights move
            self.peft.base_model.set_adapter(name)

    def has_fusion(self, name: str) -> bool:
        return name in self.fusions

    def _plain(self):
        """A context with no set active: peft's adapters switched off (nothing to do without peft)."""
        return self.peft.disable_adapter() if self.peft is not None else nullcontext()

    def frozen_encoder(self) -> FrozenEncoder:
        return FrozenEncoder(module=self.whisper, plain=self._plain)

    def torch_modules(self) -> dict[str, nn.Module]:
        return {"av": self}

    def trainable_parameters(self, name: str) -> int:
        lora = sum(p.numel() for n, p in self.whisper.named_parameters() if f".{name}." in n and "lora_" in n)
        return lora + (sum(p.numel() for p in self.fusions[name].parameters()) if name in self.fusions else 0)

    def full_parameters(self) -> int:
        return sum(p.numel() for n, p in self.whisper.named_parameters() if "lora_" not in n)

    def train_only(self, name: str) -> list[nn.Parameter]:
        """Freeze everything but set ``name`` (its LoRA and fusion); returns those parameters."""
        self.activate(name)
        out = []
        for n, p in self.named_parameters():
            on = (f".{name}." in n and "lora_" in n) or n.startswith(f"fusions.{name}.")
            p.requires_grad_(on)
            if on:
                out.append(p)
        return out

    def save_set(self, name: str, folder: str | os.PathLike) -> Path:
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        from avsr.core.files import atomic_path

        if name not in self.meta:
            raise AdapterError(f"no adapter set {name!r}")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.peft.peft_config[name].save_pretrained(str(folder))
        state = {
            k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(self.peft, adapter_name=name).items()
        }
        with atomic_path(folder / "adapter_model.safetensors") as tmp:
            save_file(state, str(tmp))
        if name in self.fusions:
            f = self.fusions[name]
            with atomic_path(folder / FUSION_WEIGHTS) as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in f.state_dict().items()}, str(tmp))
            (folder / FUSION_CONFIG).write_text(json.dumps(f.cfg.to_dict(), indent=1))
        meta = {
            **self.meta[name],
            "modality": "audio-visual" if name in self.fusions else "audio",
            "whisper": {"name": self.whisper_name, **whisper_signature(self.whisper)},
            "trainable_parameters": self.trainable_parameters(name),
            "full_finetune_parameters": self.full_parameters(),
        }
        with atomic_path(folder / ADAPTER_META) as tmp:
            tmp.write_text(json.dumps(meta, indent=1))
        return folder

    def load_set(self, folder: str | os.PathLike, name: str | None = None) -> str:
        """Add the set saved in ``folder`` (named after the folder unless ``name``)."""
        folder = Path(folder)
        meta = read_set_meta(folder)
        sig = whisper_signature(self.whisper)
        if meta["whisper"] and {k: meta["whisper"].get(k) for k in sig} != sig:
            raise signature_error(folder, meta, self.whisper_name, sig)
        name = name or folder.name
        if name in self.meta or name == NO_ADAPTER:
            raise AdapterError(f"adapter set {name!r} is already loaded or reserved")
        from peft import PeftModel

        from avsr.core.registry import quiet_transformers
        from avsr.core.store import read_safetensors

        read_safetensors(folder / "adapter_model.safetensors")  # a damaged or foreign file: CheckpointError
        try:
            if self.peft is None:
                with quiet_transformers(logs=False):  # peft's wrapping: no transformers FutureWarning
                    self.peft = PeftModel.from_pretrained(
                        self.whisper, str(folder), adapter_name=name, is_trainable=False
                    )
            else:
                self.peft.load_adapter(str(folder), adapter_name=name, is_trainable=False)
        except (ValueError, KeyError, TypeError, RuntimeError) as e:  # a config or weights peft cannot use
            raise AdapterError(f"{folder}: not a usable LoRA adapter set ({e.__class__.__name__}: {e})") from e
        if (folder / FUSION_WEIGHTS).is_file():
            fcfg = from_dict(FusionConfig, json.loads((folder / FUSION_CONFIG).read_text()))
            fusion = AVFusion(fcfg)
            fusion.load_state_dict(read_safetensors(folder / FUSION_WEIGHTS, "cpu"))
            self.fusions[name] = fusion.to(next(self.whisper.parameters()).device).eval()
        self.meta[name], self.folders[name] = meta, folder
        self.train(self.training)
        self.activate(name)
        return name

    # ----- compute
    def features(self, audio: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(B, samples) or (samples,) audio of at most 30 s -> Whisper input (B, n_mels, 3000)."""
        x = torch.as_tensor(audio, dtype=torch.float32)
        return whisper_input(x[None] if x.ndim == 1 else x, self.n_mels).to(self._device)

    @property
    def _device(self) -> torch.device:
        return next(self.whisper.parameters()).device

    def encoder_input(
        self, mel: torch.Tensor, crops: torch.Tensor | None = None, video_frames: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The active set's fusion applied to ``mel`` when there are crops; else ``mel``."""
        if crops is None or self.active not in self.fusions:
            return mel
        if video_frames is None:
            video_frames = torch.full((mel.shape[0],), crops.shape[1], dtype=torch.long)
        return self.fusions[self.active](mel, crops.to(mel.device), video_frames)

    def _model(self):
        return self.peft if self.peft is not None else self.whisper

    def forward(
        self,
        mel: torch.Tensor,
        labels: torch.Tensor,
        crops: torch.Tensor | None = None,
        video_frames: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced loss with the active set; labels (B, L) with -100 on padding."""
        x = self.encoder_input(mel, crops, video_frames)
        if self.active == NO_ADAPTER and self.peft is not None:
            with self.peft.disable_adapter():
                return self.peft(input_features=x, labels=labels).loss
        return self._model()(input_features=x, labels=labels).loss

    def decode(
        self,
        mel: torch.Tensor,
        crops: torch.Tensor | None = None,
        video_frames: torch.Tensor | None = None,
        audio: list[np.ndarray] | None = None,
        opts: DecodingOptions = DecodingOptions(),
    ) -> list[Hypothesis]:
        """Whisper-grade decoding with the active set (:mod:`avsr.whisper.decoding`): temperature
        fallback, no-speech detection, no decode of digital silence (``audio``: the samples).
        Runs on CTranslate2 after :meth:`use_ct2` (the fusion stays here), else on PyTorch."""
        from avsr.whisper.torch_engine import decode_torch

        with torch.inference_mode():
            x = self.encoder_input(mel, crops, video_frames)
        if self.ct2 is not None:
            return self.ct2.decode(self.active, x.cpu().numpy(), audio, opts)
        with self._plain() if self.active == NO_ADAPTER else nullcontext():
            return decode_torch(self.whisper, self.processor.tokenizer, x, audio, opts)

    def use_ct2(self, compute_type: str | None = "float32", cache: str | os.PathLike | None = None) -> None:
        """Decode on CTranslate2 from now on (``compute_type`` float32 | int8 | int8_float32; None:
        back to PyTorch). Each set is converted once into the cache (:mod:`avsr.adapters.ct2_sets`)."""
        from avsr.adapters.ct2_sets import ct2_engine

        self.ct2 = None if compute_type is None else ct2_engine(self, compute_type, cache=cache)

    def generate(
        self,
        mel: torch.Tensor,
        crops: torch.Tensor | None = None,
        video_frames: torch.Tensor | None = None,
        beams: int = 1,
        language: str | None = "en",
        max_new_tokens: int | None = None,
        audio: list[np.ndarray] | None = None,
        opts: DecodingOptions | None = None,
    ) -> list[str]:
        """The texts of :meth:`decode` (``opts``: default Whisper's, with ``beams``...)."""
        opts = opts or DecodingOptions(beam_size=beams, language=language, max_new_tokens=max_new_tokens)
        return [h.text for h in self.decode(mel, crops, video_frames, audio, opts)]
