#!/usr/bin/env python3
"""A deterministic tree of many small files, for incremental-set benchmarks at scale.

    bench/gen-many-files.py OUTDIR [--files N] [--per-dir M] [--seed S]

Writes N files (default 1,000,000) under OUTDIR/tree, M per directory (default 1000), in directories
nested two deep (tree/d0000/d0001/...), like an object store's prefixes. Each file holds 64 to 4,095
bytes: a JSON-ish header and text from a small vocabulary, so contents compress but are unique per file;
every 50th file repeats the content of the one before it (duplicate uploads), and every 200th is an
empty file. Modes are 0644, mtimes fixed per file from the seed, so the same arguments give a
byte-identical tree with identical metadata. About 2 GiB for a million files.
"""
import argparse
import os
import random

WORDS = ("backup restore tenant invoice report upload retention verify archive policy storage "
         "customer order payment server queue worker status failed completed pending").split()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir")
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--per-dir", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = os.path.join(args.outdir, "tree")
    base_time = 1_700_000_000
    previous = b""
    for index in range(args.files):
        directory = os.path.join(root, f"d{index // (args.per_dir * 100):04d}", f"d{(index // args.per_dir) % 100:04d}")
        if index % args.per_dir == 0:
            os.makedirs(directory, exist_ok=True)
        if index % 200 == 199:
            content = b""
        elif index % 50 == 49:
            content = previous
        else:
            size = rng.randrange(64, 4096)
            words = " ".join(rng.choice(WORDS) for _ in range(size // 6))
            content = (f'{{"id": {index}, "tenant": {rng.randrange(1000)}}}\n{words}\n'.encode())[:size]
        path = os.path.join(directory, f"f{index:07d}.txt")
        with open(path, "wb") as handle:
            handle.write(content)
        stamp = base_time + rng.randrange(0, 86400 * 365)
        os.utime(path, (stamp, stamp))
        previous = content or previous
    print(f"gen-many-files: {args.files} files in {root}")


if __name__ == "__main__":
    main()
