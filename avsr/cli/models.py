"""``avsr models`` and ``avsr adapters``: what is installed and where it comes from."""

from __future__ import annotations

from avsr.whisper.ct2_cache import COMPUTE_TYPES


def add(sub) -> None:
    p = sub.add_parser("models", help="list the registered offline models and where each comes from")
    p.set_defaults(func=run_models)
    a = sub.add_parser("adapters", help="list the adapter sets in a folder (default: the sets that ship)")
    a.add_argument("folder", nargs="?", help="folder of adapter-set folders (default: the shipped whisper-base sets)")
    a.add_argument("--whisper", default="whisper-base", help="whose shipped sets to list (default whisper-base)")
    a.add_argument(
        "--memory",
        action="store_true",
        help="load the frozen Whisper and every set on CTranslate2 (--compute-type) and report the resident memory "
        "each adds (a set's folder is converted once into the cache on first use)",
    )
    a.add_argument("--compute-type", default="float32", choices=COMPUTE_TYPES)
    a.add_argument(
        "--router",
        action="store_true",
        help="print the routing table the default uses with these sets (rule by rule) and the validation evidence "
        "behind each set's rule",
    )
    a.set_defaults(func=run_adapters)


def run_models(args) -> int:
    from avsr.core.registry import registered_files, registry
    from avsr.whisper.ct2_cache import converted_folders

    for name, e in registry().items():
        try:
            files = registered_files(name)
            where = ", ".join(str(f) for f in files)
            states = _states(e, converted_folders(name))
        except Exception as err:  # noqa: BLE001 - show why, keep listing
            where, states = f"NOT INSTALLED ({err})", []
        print(f"{name} [{e['kind']}]: {e['description']}")
        print(f"  from: {e['install']}  ({e.get('licence', '')})")
        print(f"  files: {where}")
        for state in states:
            print(f"  {state}")
    print("\nconverted copies live in the cache (`avsr cache` lists them with their sizes)")
    _published()
    return 0


def _states(e: dict, folders: dict) -> list[str]:
    """What of a registry entry has been converted (``folders``: :func:`converted_folders`)."""
    if e["kind"] == "adapter-sets":
        done = [s for s, p in folders.items() if p is not None]
        if not done:
            return ["CTranslate2: not converted yet (a set's first use converts it into the cache)"]
        return [f"CTranslate2: {len(done)} of {len(folders)} sets converted ({', '.join(done)})"]
    from avsr.core.registry import cache_dir

    out = []
    for engine, p in folders.items():
        use = f"{engine} (--engine {'torch' if engine == 'PyTorch' else 'ct2'}): " if e["kind"] == "whisper" else ""
        if p is None:
            out.append(f"{use}not converted yet (its first use converts it into the cache)")
        elif cache_dir().resolve() in p.resolve().parents:
            out.append(f"{use}converted: {p}")
        else:
            out.append(f"{use}runs from the package's folder (nothing to convert): {p}")
    return out or ["used as shipped (nothing to convert)"]


def _published() -> None:
    from avsr.core.registry import published

    for family, e in published().items():
        print(f"\n{family} [published checkpoints you download; run with --vsr/--asr/--avsr FILE --lm ... as listed]")
        print(f"  {e['description']}")
        print(f"  needs: {e['needs']}")
        print(f"  crops: {e['crops']}")
        for f in e["files"]:
            run = f"--{f['kind']} {f['file']}" + (f" {f['with']}" if f.get("with") else "")
            wer = f"LRS3 WER {f['wer_lrs3']:>5}%" if "wer_lrs3" in f else " " * 15
            release = f" [{f['release']}, md5 {f['md5_prefix']}...]" if "release" in f else ""
            print(f"  {run:<58} {wer}  {f.get('data', '')}{release}  {f['url']}")


def run_adapters(args) -> int:
    from avsr.adapters.sets import list_sets
    from avsr.core.registry import shipped

    if args.folder is None:
        args.folder = shipped("adapter-sets", args.whisper)
        if args.folder is None:
            print(f"no adapter sets ship for {args.whisper}; give a folder (avsr adapters FOLDER)")
            return 0
        print(f"shipped sets for {args.whisper} (sha256 verified): {args.folder}")
    sets = list_sets(args.folder)
    if not sets:
        print(f"{args.folder}: no adapter sets (train one: avsr train av configs/av/babble.yaml)")
        return 0
    print(f"{'set':<14}{'modality':<14}{'noise':<22}{'SNR dB':<12}{'whisper':<18}{'trainable':>12}{'share':>8}")
    for name, m in sets:
        n = m.get("noise", {})
        snr = n.get("snr_values") or n.get("snr") or []
        snr_s = ",".join(f"{v:g}" for v in snr) if n.get("snr_values") else ("..".join(f"{v:g}" for v in snr))
        tr, full = m.get("trainable_parameters", 0), m.get("full_finetune_parameters", 0) or 1
        print(
            f"{name:<14}{m.get('modality', '?'):<14}{'+'.join(n.get('categories', [])) or '?':<22}{snr_s:<12}"
            f"{m.get('whisper', {}).get('name', '?'):<18}{tr:>12,}{100 * tr / full:>7.2f}%"
        )
    _router(args.folder, [name for name, _ in sets], args.router)
    if args.memory:
        _memory(args, [name for name, _ in sets])
    return 0


def _router(folder, names: list[str], full: bool) -> None:
    """Which sets the default of ``avsr transcribe`` can choose, and when (the folder's router.yaml,
    else the built-in rules); with ``full`` every rule and the recorded evidence."""
    from avsr.core.configs import load_yaml
    from avsr.noise.router import RouterConfig, sets_router

    path = sets_router(folder)
    cfg = RouterConfig.from_yaml(path) if path else RouterConfig()
    print(f"\ndefault routing: {path or 'built-in rules (no router.yaml in the folder)'}")
    for name in names:
        when = [f"rule {i} ({_when(r)}{_unless(i)})" for i, r in enumerate(cfg.rules) if r.adapter == name]
        print(
            f"  {name:<14}{'chosen by ' + ' or '.join(when) if when else f'never chosen by default (--adapter {name})'}"
        )
    doc = load_yaml(path) if path else {}
    if not full:
        return
    print("rules, first match wins (category and SNR are the noise head's estimates):")
    for i, r in enumerate(cfg.rules):
        print(f"  {i}. {_when(r):<40} -> {r.adapter}")
    print(f"  otherwise -> {cfg.default}")
    evidence = doc.get("evidence") or []
    if not evidence:
        print("evidence: none recorded in the table (a hand-written table: read its comments)")
        return
    from avsr.evaluation.routing import Evidence

    print(f"evidence (validation run {doc.get('derived_from', '?')}):")
    for e in evidence:
        e = dict(e, worse_in=tuple(e.get("worse_in", ())))
        print("  " + Evidence(**e).describe())


def _unless(i: int) -> str:
    return "" if i == 0 else (", if rule 0 does not match" if i == 1 else f", if rules 0-{i - 1} do not match")


def _when(rule) -> str:
    parts = [f"estimated {rule.category}" if rule.category else "any category"]
    if rule.snr_min is not None:
        parts.append(f"SNR >= {rule.snr_min:g} dB")
    if rule.snr_max is not None:
        parts.append(f"SNR < {rule.snr_max:g} dB")
    if rule.min_prob is not None:
        parts.append(f"head >= {rule.min_prob:g} sure")
    return ", ".join(parts)


def _memory(args, names: list[str]) -> None:
    """Resident memory of each model loaded on CTranslate2 (all kept loaded, as the recognizer does).
    The folders are made first (a set's first use converts it into the cache, in a child process
    whose PyTorch memory goes with it), so the numbers are the loaded models' alone, on the first
    call as on later ones."""
    from pathlib import Path

    import ctranslate2  # noqa: F401  (the runtime itself is not a model's memory)

    from avsr.adapters.ct2_sets import RegistrySets
    from avsr.core.jobs import release_memory
    from avsr.whisper.ct2_engine import CT2Whisper
    from avsr.whisper.frozen import NO_SET

    sets = RegistrySets(args.whisper, {n: Path(args.folder) / n for n in names})
    _convert_first(sets, [NO_SET, *names])
    release_memory()
    before = resident_bytes()
    eng = CT2Whisper(sets, None, args.compute_type)
    release_memory()  # what loading freed (file buffers, float32 copies before quantisation) goes back
    print(f"\nloaded on CTranslate2 ({args.compute_type}), resident memory each adds:")
    print(f"  {NO_SET + ' (frozen)':<14}{(resident_bytes() - before) / 2**20:>8.0f} MB")
    for name in names:
        release_memory()
        here = resident_bytes()
        eng.model(name)
        release_memory()
        print(f"  {name:<14}{(resident_bytes() - here) / 2**20:>8.0f} MB")
    print(f"  {'total':<14}{(resident_bytes() - before) / 2**20:>8.0f} MB")


def _convert_first(sets, names: list[str]) -> None:
    """Every folder of ``sets`` made (converted once into the cache where need be) in a child
    process, so that the conversion's PyTorch memory is not this process's."""
    import logging
    import multiprocessing

    root = logging.getLogger()  # the child logs its conversion notice as this process would
    fmt = root.handlers[0].formatter if root.handlers else None
    pool = multiprocessing.get_context("spawn").Pool(1, _log_like, (root.getEffectiveLevel(), fmt))
    try:
        pool.map(sets, names)
    finally:
        pool.close()  # the worker ends on its own (terminate() would leave its semaphores to the tracker)
        pool.join()


def _log_like(level: int, fmt) -> None:
    import logging

    logging.basicConfig(level=level)
    if fmt is not None:
        logging.getLogger().handlers[0].setFormatter(fmt)


def resident_bytes() -> int:
    """This process's resident memory now (Linux /proc; the peak from getrusage elsewhere)."""
    import os

    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
