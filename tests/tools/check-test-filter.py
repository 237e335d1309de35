#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that every alternative of a test preset's name filter selects at
least one test (run-sanitizers.sh, after building a preset that builds only
some targets: a test whose binary was not built is not discovered, and its
name would otherwise just silently match nothing).

    check-test-filter.py PRESET      (from the source dir, after the build)

The filter (CMakePresets.json testPresets[PRESET].filter.include.name) is
split at its top-level '|'; a branch of the form prefix(a|b|c)suffix is
expanded into prefix+a+suffix, ... Each one must match a test that
`ctest --preset PRESET -N` lists. Exit 1 naming those that match none.
"""
import json
import re
import subprocess
import sys


def top_level_split(pattern: str):
    parts, depth, cur = [], 0, ""
    for ch in pattern:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def alternatives(pattern: str):
    for branch in top_level_split(pattern):
        m = re.fullmatch(r"([^()|]*)\(([^()]*)\)([^()|]*)", branch)
        if m:
            yield from (m.group(1) + a + m.group(3) for a in m.group(2).split("|"))
        else:
            yield branch


def main():
    preset = sys.argv[1]
    presets = json.load(open("CMakePresets.json"))["testPresets"]
    pattern = next(p for p in presets if p["name"] == preset)["filter"]["include"]["name"]
    listing = subprocess.run(["ctest", "--preset", preset, "-N"], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
    tests = re.findall(r"Test\s+#\d+: (\S+)", listing)
    missing = [a for a in alternatives(pattern) if not any(re.search(a, t) for t in tests)]
    if missing:
        print(f"check-test-filter: preset {preset}: no test matches {', '.join(missing)} "
              "(is its binary among the build preset's targets?)", file=sys.stderr)
        sys.exit(1)
    print(f"check-test-filter: preset {preset}: each of the filter's names selects a test "
          f"({len(tests)} tests)")


if __name__ == "__main__":
    main()
