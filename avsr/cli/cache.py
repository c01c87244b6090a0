"""``avsr cache``: what the converted-model cache holds (converted Whisper models, CTranslate2
folders per Whisper x adapter set) with sizes; ``--clear`` removes them (made again on next use)."""

from __future__ import annotations

import sys


def add(sub) -> None:
    p = sub.add_parser(
        "cache",
        help="list the converted-model cache with sizes; --clear removes it (made again on next use)",
        description="List what avsr converted once into its cache ($AVSR_CACHE or ~/.cache/avsr): registry "
        "models converted for PyTorch, CTranslate2 folders per Whisper and adapter set, with sizes. --clear removes "
        "them; it refuses while another avsr run uses the cache.",
    )
    p.add_argument("--clear", action="store_true", help="remove everything listed (asks first unless --yes)")
    p.add_argument("--yes", "-y", action="store_true", help="with --clear: do not ask")
    p.set_defaults(func=run_cache)


def run_cache(args) -> int:
    from avsr.core.errors import UsageError
    from avsr.core.registry import cache_dir, human_bytes
    from avsr.whisper.ct2_cache import cache_entries, clear_cache

    entries = cache_entries()
    print(f"converted-model cache: {cache_dir()} (set AVSR_CACHE to move it)")
    if not entries:
        print("  empty")
        return 0
    rows = [("size", "engine", "model", "set", "folder")]
    for e in entries:
        state = "" if e.complete else "  (unused: an interrupted conversion or an older version's)"
        rows.append((human_bytes(e.bytes), e.engine, e.model, e.set or "-", e.path.name + state))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print(f"  {r[0]:>{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  {r[4]}")
    total = sum(e.bytes for e in entries)
    print(f"  {human_bytes(total):>{w[0]}}  total")
    if not args.clear:
        print("`avsr cache --clear` removes them (each is converted again on its next use)")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("--clear asks before removing; add --yes to clear without asking")
        if input(f"remove {len(entries)} folders ({human_bytes(total)})? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 0
    removed = clear_cache()
    n = len(removed)
    print(f"removed {n} folder{'' if n == 1 else 's'} ({human_bytes(sum(e.bytes for e in removed))})")
    return 0
