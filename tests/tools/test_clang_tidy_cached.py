#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Proof that clang-tidy-cached.py's cache never hides a finding (ctest
clang_tidy_cache_catches_header_finding, label lint).

    test_clang_tidy_cached.py CLANG_TIDY CXX

On a copy of tests/tools/clang_tidy_fixture (two .cpp files, one including
widget.h) under the repository's .clang-tidy, with its own cache dir:
  1. a first run checks both files, a second takes both from the cache;
  2. a finding seeded into widget.h fails the run, names the header, and
     re-checks only widget.cpp; a run after that fails again (a file with
     findings is never recorded);
  3. with the seed removed both come from the cache again; a change to
     .clang-tidy re-checks both.
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
SCRIPT = HERE / "clang-tidy-cached.py"
SEED = "\ninline int* nullWidget() { return 0; }  // seeded: modernize-use-nullptr\n"


def run(tidy, work, cache):
    r = subprocess.run([sys.executable, str(SCRIPT), "-p", str(work / "build"), "--root", str(work),
                        "--clang-tidy", tidy, "--cache-dir", str(cache), "-j", "2"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(r.stdout)
    m = re.search(r"(\d+) files: (\d+) checked, (\d+) clean in the cache", r.stdout)
    if not m:
        sys.exit("FAIL: no summary line")
    return r.returncode, int(m.group(2)), int(m.group(3)), r.stdout


def expect(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


def main():
    tidy, cxx = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp) / "repo"
        shutil.copytree(HERE / "clang_tidy_fixture", work)
        shutil.copy(HERE.parent.parent / ".clang-tidy", work / ".clang-tidy")
        (work / "build").mkdir()
        cache = pathlib.Path(tmp) / "cache"
        (work / "build" / "compile_commands.json").write_text(json.dumps([
            {"directory": str(work / "build"), "file": str(work / "src" / f),
             "command": f"{cxx} -I{work}/src -std=gnu++20 -o {f}.o -c {work}/src/{f}"}
            for f in ("widget.cpp", "other.cpp")]))
        header = work / "src" / "widget.h"
        clean_header = header.read_text()

        rc, checked, cached, _ = run(tidy, work, cache)
        expect(rc == 0 and checked == 2 and cached == 0, "first run: both checked, clean")
        rc, checked, cached, _ = run(tidy, work, cache)
        expect(rc == 0 and checked == 0 and cached == 2, "second run: both from the cache")

        header.write_text(clean_header + SEED)
        for attempt in ("seeded", "seeded again"):
            rc, checked, cached, out = run(tidy, work, cache)
            expect(rc == 1 and "widget.h:" in out and "modernize-use-nullptr" in out,
                   f"{attempt}: the finding in widget.h fails the run")
            expect(checked == 1 and cached == 1, f"{attempt}: only widget.cpp re-checked")

        header.write_text(clean_header)
        rc, checked, cached, _ = run(tidy, work, cache)
        expect(rc == 0 and checked == 0 and cached == 2, "seed removed: both from the cache")
        with open(work / ".clang-tidy", "a") as f:
            f.write("# changed\n")
        rc, checked, cached, _ = run(tidy, work, cache)
        expect(rc == 0 and checked == 2, "a changed .clang-tidy re-checks every file")


if __name__ == "__main__":
    main()
