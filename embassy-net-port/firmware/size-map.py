#!/usr/bin/env python3
"""Where a firmware's flash goes, by source file or line, inlined code included.

Every instruction of the image is attributed to the source line its debug
info names (`llvm-objdump -d -l`), so code inlined into a big async poll
function is counted where it was written. With a second image, prints the
difference (e.g. producer over bare). Needs `rustup component add
llvm-tools` (not part of CI: a measuring aid for footprint work).

  size-map.py ELF [--over BASE_ELF] [--by file|line|function] [--match TEXT] [--top N]

`--by function` with `--match` shows which functions hold the bytes of
matching source locations (e.g. `--match core/src/result.rs`: who pays for
`?` and `map_err`).
"""
import argparse
import collections
import glob
import re
import subprocess
import sys


def objdump():
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True,
                             text=True, check=True).stdout.strip()
    found = glob.glob(f"{sysroot}/lib/rustlib/*/bin/llvm-objdump")
    if not found:
        sys.exit("llvm-objdump not found: rustup component add llvm-tools")
    return found[0]


def tidy(location):
    location = re.sub(r"^/root/\.cargo/registry/src/[^/]+/", "", location)
    location = re.sub(r"^/rustc/[0-9a-f]+/library/", "std:", location)
    return re.sub(r"^.*?/(core|embassy-net-port|std-net|mock-broker)/", r"\1/", location)


def attribute(elf, by, match):
    """Bytes per key: source file, source line, or (for --match) function."""
    out = subprocess.run([objdump(), "-d", "-l", "--no-show-raw-insn", "--demangle", elf],
                         capture_output=True, text=True, check=True).stdout
    counts = collections.Counter()
    location, function, previous = "?", "?", None
    address = re.compile(r"^\s*([0-9a-f]+):\s")
    symbol = re.compile(r"^[0-9a-f]+ <(.*)>:$")
    for line in out.splitlines():
        m = symbol.match(line)
        if m:
            function, previous = re.sub(r"::h[0-9a-f]{16}$", "", m.group(1)), None
            continue
        if line.startswith("; /"):
            location = tidy(line[2:].strip())
            continue
        m = address.match(line)
        if not m:
            continue
        here = int(m.group(1), 16)
        if previous is not None and 0 < here - previous[0] <= 4:
            where, owner = previous[1], previous[2]
            if match in where:
                key = {"file": where.rsplit(":", 1)[0], "line": where, "function": owner}[by]
                counts[key] += here - previous[0]
        previous = (here, location, function)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("elf")
    parser.add_argument("--over", help="subtract this image (a baseline)")
    parser.add_argument("--by", choices=["file", "line", "function"], default="file")
    parser.add_argument("--match", default="", help="only source locations containing this")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    counts = attribute(args.elf, args.by, args.match)
    if args.over:
        counts.subtract(attribute(args.over, args.by, args.match))
    rows = sorted(((n, k) for k, n in counts.items() if n), reverse=True)
    for n, key in rows[: args.top]:
        print(f"{n:7d} {key[:150]}")
    print(f"{sum(n for n, _ in rows):7d} total")


if __name__ == "__main__":
    main()
