"""Shared command line of the corpus scripts (thin: all work is in avsr.recipes.lrs)."""

from __future__ import annotations

import argparse
import os
import sys


def main(name: str, splits: tuple[str, ...], prepare) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")
    from avsr.core.configs import build
    from avsr.core.errors import AvsrError
    from avsr.recipes.lrs import merge_shards, parse_shard
    from avsr.roi.config import RoiConfig

    p = argparse.ArgumentParser(description=f"{name} -> ROI crops + JSONL manifests (one per split)")
    p.add_argument("root", help=f"{name} corpus folder")
    p.add_argument("-o", "--out", required=True, help="output folder (OUT/<split>/manifest.jsonl)")
    p.add_argument("--splits", nargs="+", default=list(splits), choices=splits)
    p.add_argument("--shard", help="i/n: process only shard i of n (0-based), e.g. one per machine")
    p.add_argument("--merge", action="store_true", help="join finished shard manifests into OUT/<split>/manifest.jsonl")
    p.add_argument("-j", "--jobs", type=int, default=1)
    p.add_argument("-c", "--config", help="YAML RoiConfig (configs/roi/*.yaml)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    try:
        if args.merge:
            for s in args.splits:
                print(f"{s}: {merge_shards(os.path.join(args.out, s))} clips")
            return 0
        shard = parse_shard(args.shard)
        cfg = build(RoiConfig, args.config, args.set)
        results = prepare(args.root, args.out, splits=args.splits, cfg=cfg, shard=shard, workers=args.jobs)
    except (AvsrError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed = 0
    for split, r in results.items():
        print(f"{split}: {r.done} extracted, {r.skipped} already done, {len(r.failed)} failed")
        failed += len(r.failed)
    return 1 if failed else 0
