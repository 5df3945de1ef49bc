#!/usr/bin/env python3
"""The longest `fn` items under a Rust source tree, counted in lines.

Usage: python3 scripts/longest_functions.py [--top N] [--tests] [--over N] [ROOT]

A function's length is the number of lines from the line holding `fn name` to the line of
its closing brace, both included (the project's "functions <= ~60 lines" rule). Comments,
strings, raw strings and char literals are blanked before braces are matched, so braces in
text do not count. Test code (files or inline modules declared under `#[cfg(test)]`, and
`#[test]` functions) is left out unless --tests is given. Standard library only.
"""

import argparse
import os
import re
import sys

FN_RE = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")
TEST_MOD_DECL_RE = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
TEST_MOD_INLINE_RE = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{")
TEST_ATTR_RE = re.compile(r"#\[(?:tokio::)?test(?:\([^)]*\))?\]\s*$")


def blank_text(src):
    """`src` with comments, strings and char literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(src)
    keep = lambda s: re.sub(r"[^\n]", " ", s)  # noqa: E731
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(keep(src[i:j]))
            i = j
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep(src[i:j]))
            i = j
        elif re.match(r"b?r#*\"", src[i:i + 40]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r"b?r(#*)\"", src[i:])
            close = '"' + m.group(1)
            j = src.find(close, i + m.end())
            j = n if j < 0 else j + len(close)
            out.append(keep(src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(keep(src[i:j + 1]))
            i = j + 1
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): a literal closes soon.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:i + 12])
            if m:
                out.append(keep(m.group(0)))
                i += m.end()
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_files(root):
    """Paths of files that are modules declared under `#[cfg(test)] mod x;`."""
    found = set()
    for path in rust_files(root):
        with open(path, encoding="utf-8") as f:
            text = blank_text(f.read())
        base = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0]
        child_dir = base if stem in ("mod", "lib", "main") else os.path.join(base, stem)
        for m in TEST_MOD_DECL_RE.finditer(text):
            name = m.group(1)
            for cand in (os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name, "mod.rs")):
                found.add(os.path.normpath(cand))
    return found


def rust_files(root):
    for d, _, files in os.walk(root):
        for name in sorted(files):
            if name.endswith(".rs"):
                yield os.path.normpath(os.path.join(d, name))


def closing_brace(text, start):
    """Index of the `}` closing the body that starts at or after `start`, or None (no body)."""
    depth_paren = 0
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c in "([":
            depth_paren += 1
        elif c in ")]":
            depth_paren -= 1
        elif c == ";" and depth_paren == 0:
            return None
        elif c == "{" and depth_paren == 0:
            break
        i += 1
    depth = 0
    while i < n:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def inline_test_ranges(text):
    ranges = []
    for m in TEST_MOD_INLINE_RE.finditer(text):
        end = closing_brace(text, m.end() - 1)
        if end is not None:
            ranges.append((m.start(), end))
    return ranges


def functions(path, text, include_tests):
    line_of = lambda pos: text.count("\n", 0, pos) + 1  # noqa: E731
    skip = [] if include_tests else inline_test_ranges(text)
    lines = text.split("\n")
    for m in FN_RE.finditer(text):
        if any(a <= m.start() <= b for a, b in skip):
            continue
        end = closing_brace(text, m.end())
        if end is None:
            continue
        first, last = line_of(m.start()), line_of(end)
        if not include_tests and is_test_fn(lines, first):
            continue
        yield last - first + 1, path, first, m.group(1)


def is_test_fn(lines, fn_line):
    i = fn_line - 2
    while i >= 0 and lines[i].strip().startswith("#["):
        if TEST_ATTR_RE.search(lines[i].strip()):
            return True
        i -= 1
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default="src")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--over", type=int, default=None, help="list every function longer than N")
    ap.add_argument("--tests", action="store_true", help="count test code too")
    args = ap.parse_args()
    skip_files = set() if args.tests else test_files(args.root)
    found = []
    for path in rust_files(args.root):
        if path in skip_files:
            continue
        with open(path, encoding="utf-8") as f:
            text = blank_text(f.read())
        found.extend(functions(path, text, args.tests))
    found.sort(key=lambda t: (-t[0], t[1], t[2]))
    rows = [t for t in found if t[0] > args.over] if args.over is not None else found[: args.top]
    for length, path, line, name in rows:
        print(f"{length:5d}  {path}:{line}  {name}")
    print(f"({len(found)} functions; {sum(1 for t in found if t[0] > 60)} over 60 lines)", file=sys.stderr)


if __name__ == "__main__":
    main()
