#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""clang-tidy over the .cpp files of compile_commands.json, skipping files
whose exact input already had a clean result (ctest clang_tidy).

    clang-tidy-cached.py -p BUILD_DIR --root SOURCE_DIR [--clang-tidy BIN]
                         [-j N] [--cache-dir DIR] [REGEX]

Per file the cache key is the sha256 of: the file's preprocessed output
(the compile command's own compiler with -E and the same flags, so every
header it includes, transitively, is in it), the compile command, every
.clang-tidy from the file's directory up to /, and `clang-tidy --version`.
The source and build directories are replaced by placeholders in the
command and the preprocessed text, so clean clones at other paths share
entries. A key with a recorded clean result (no finding, exit 0) is skipped;
every other file is checked (in parallel, -j), and a file with findings is
never recorded: its findings are printed and the exit status is 1, as with
run-clang-tidy.

Cache directory: --cache-dir, else $JOBWATCH_CLANG_TIDY_CACHE, else
/var/cache/jobwatchd-tests/clang-tidy when writable (root, CI), else
${XDG_CACHE_HOME:-~/.cache}/jobwatchd-tests/clang-tidy. Entries unused for
30 days are removed.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile
import time

FINDING = re.compile(r": (warning|error): ")
MAX_AGE_S = 30 * 24 * 3600
# Options whose next argument is an output (dropped before running -E).
OUTPUT_OPTS = {"-o", "-MF", "-MT", "-MQ"}
DROPPED_FLAGS = {"-c", "-MD", "-MMD"}


def default_cache_dir() -> pathlib.Path:
    if os.environ.get("JOBWATCH_CLANG_TIDY_CACHE"):
        return pathlib.Path(os.environ["JOBWATCH_CLANG_TIDY_CACHE"])
    system = pathlib.Path("/var/cache/jobwatchd-tests")
    if os.access(system, os.W_OK) or (not system.exists() and os.geteuid() == 0):
        return system / "clang-tidy"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(xdg) / "jobwatchd-tests" / "clang-tidy"


def arguments_of(entry: dict) -> list:
    if "arguments" in entry:
        return list(entry["arguments"])
    return shlex.split(entry["command"])


def preprocess_command(args: list) -> list:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in OUTPUT_OPTS:
            skip = True
        elif a not in DROPPED_FLAGS and not a.startswith("-o"):
            out.append(a)
    return out + ["-E"]


def tidy_configs(file: pathlib.Path) -> bytes:
    """Every .clang-tidy clang-tidy could read for this file, with its path."""
    parts = []
    for d in file.parents:
        cfg = d / ".clang-tidy"
        if cfg.is_file():
            parts.append(str(cfg).encode() + b"\0" + cfg.read_bytes())
    return b"\0".join(parts)


class Checker:
    def __init__(self, opts, version: bytes):
        self.opts = opts
        self.version = version
        self.root = str(pathlib.Path(opts.root).resolve())
        self.build = str(pathlib.Path(opts.p).resolve())

    def normalise(self, data: bytes) -> bytes:
        # The build dir first: it may sit inside the source dir.
        data = data.replace(self.build.encode(), b"@BUILD@")
        return data.replace(self.root.encode(), b"@ROOT@")

    def key(self, entry: dict) -> str:
        args = arguments_of(entry)
        pre = subprocess.run(preprocess_command(args), cwd=entry["directory"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if pre.returncode != 0:
            raise RuntimeError(f"{entry['file']}: preprocessing failed:\n"
                               + pre.stderr.decode(errors="replace"))
        h = hashlib.sha256()
        for part in (self.normalise(pre.stdout),
                     self.normalise("\0".join(args).encode()),
                     self.normalise(tidy_configs(pathlib.Path(entry["file"]))),
                     self.version):
            h.update(hashlib.sha256(part).digest())
        return h.hexdigest()

    def tidy(self, entry: dict):
        run = subprocess.run([self.opts.clang_tidy, "-p", self.build, "-quiet", entry["file"]],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = run.stdout.decode(errors="replace")
        clean = run.returncode == 0 and not FINDING.search(out)
        return run.returncode, clean, out + run.stderr.decode(errors="replace")


def record(cache: pathlib.Path, key: str, file: str):
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(f"clean {file} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    os.replace(tmp, cache / key)


def prune(cache: pathlib.Path):
    now = time.time()
    for e in cache.iterdir() if cache.is_dir() else []:
        try:
            if now - e.stat().st_mtime > MAX_AGE_S:
                e.unlink()
        except OSError:
            pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", required=True, help="build dir with compile_commands.json")
    ap.add_argument("--root", required=True, help="source dir")
    ap.add_argument("--clang-tidy", default="clang-tidy")
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--cache-dir", type=pathlib.Path, default=None)
    ap.add_argument("regex", nargs="?", default=r".*\.cpp$",
                    help="files to check (searched in the absolute path)")
    opts = ap.parse_args()
    cache = opts.cache_dir or default_cache_dir()

    entries = json.loads((pathlib.Path(opts.p) / "compile_commands.json").read_text())
    pattern = re.compile(opts.regex)
    seen, files = set(), []
    for e in entries:
        f = str(pathlib.Path(e["directory"], e["file"]).resolve())
        if pattern.search(f) and f not in seen:
            seen.add(f)
            files.append(dict(e, file=f))
    version = subprocess.run([opts.clang_tidy, "--version"], check=True,
                             stdout=subprocess.PIPE).stdout
    checker = Checker(opts, version)
    start = time.time()

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, opts.j)) as pool:
        keys = list(pool.map(checker.key, files))
        todo = []
        for entry, key in zip(files, keys):
            if (cache / key).is_file():
                os.utime(cache / key)
            else:
                todo.append((entry, key))
        # Clean results are recorded as they come (a run cut short keeps them).
        futures = {pool.submit(checker.tidy, entry): (entry, key) for entry, key in todo}
        failed, unclean = [], 0
        for future in concurrent.futures.as_completed(futures):
            entry, key = futures[future]
            rc, clean, output = future.result()
            if clean:
                record(cache, key, os.path.relpath(entry["file"], checker.root))
                continue
            unclean += 1
            print(f"--- {entry['file']} (clang-tidy exit {rc})")
            print(output, end="" if output.endswith("\n") else "\n", flush=True)
            if rc != 0:
                failed.append(entry["file"])
    prune(cache)
    print(f"clang-tidy-cached: {len(files)} files: {len(todo)} checked, "
          f"{len(files) - len(todo)} clean in the cache ({cache}); "
          f"{unclean} with findings; {time.time() - start:.0f} s")
    if failed:
        print("clang-tidy-cached: FAILED: " + " ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
