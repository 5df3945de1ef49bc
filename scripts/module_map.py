#!/usr/bin/env python3
"""The module map of a Rust source tree: one line per file, with its line count and the first
line of its `//!` doc comment.

Usage: python3 scripts/module_map.py [ROOT] [--width N]
"""

import argparse
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default="src")
    ap.add_argument("--width", type=int, default=72, help="longest doc text shown")
    args = ap.parse_args()
    paths = []
    for d, _, files in os.walk(args.root):
        paths.extend(os.path.join(d, f) for f in files if f.endswith(".rs"))
    total = 0
    for path in sorted(paths):
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        count = len(lines) - (1 if lines and lines[-1] == "" else 0)
        total += count
        doc = next((l[3:].strip() for l in lines if l.startswith("//!")), "")
        if len(doc) > args.width:
            doc = doc[: args.width - 1] + "…"
        print(f"{path:<46} {count:5d}  {doc}")
    print(f"{len(paths)} files, {total} lines")


if __name__ == "__main__":
    main()
