#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that src/ is layered bottom-up (README: How the code is laid out):

    util -> status -> {config, api, state, watchlist, metrics}
         -> {scheduler, hooks} -> app -> main.cpp

A module may include headers of, and link against, only modules on a lower
level (and itself). Prints every violation as file:line and exits 1 if any.
"""
import pathlib
import re
import sys

LEVELS = {
    "util": 0,
    "status": 1,
    "config": 2, "api": 2, "state": 2, "watchlist": 2, "metrics": 2,
    "scheduler": 3, "hooks": 3,
    "app": 4,
}
MAIN_LEVEL = 5

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"')
LINK = re.compile(r"jobwatch::([a-z_]+)")


def level_of(path: pathlib.Path, src: pathlib.Path):
    rel = path.relative_to(src)
    if len(rel.parts) == 1:
        return "main", MAIN_LEVEL
    module = rel.parts[0]
    if module not in LEVELS:
        return module, None
    return module, LEVELS[module]


def check(src: pathlib.Path) -> list:
    problems = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cpp", ".in") and path.name != "CMakeLists.txt":
            continue
        module, level = level_of(path, src)
        if level is None:
            problems.append(f"{path}: module '{module}' has no level in {__file__}")
            continue
        pattern = LINK if path.name == "CMakeLists.txt" else INCLUDE
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if path.name == "CMakeLists.txt" and "ALIAS" in line:
                continue
            for used in pattern.findall(line):
                if used == module or used == "build_flags":
                    continue
                used_level = LEVELS.get(used)
                if used_level is None:
                    continue  # not a module of ours (e.g. a generated header folder)
                if used_level >= level:
                    problems.append(
                        f"{path}:{number}: {module} (level {level}) uses {used} "
                        f"(level {used_level}); dependencies must point down")
    return problems


def main() -> int:
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src").resolve()
    problems = check(src)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} layering violation(s)")
        return 1
    print(f"layering OK: {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
