# SPDX-License-Identifier: Apache-2.0
"""A minimal Debian 12 root for booting under systemd-nspawn, for
test_systemd_boot.py.

`debootstrap --variant=minbase` plus systemd (to boot) runs once, into a
cache under the build directory (build/dev/debootstrap-cache/<key>/root,
<key> naming the suite, the package list and the mirror); each test run
copies it, so every boot starts clean. Packages that apt downloads inside a
copy are kept in the cache's archives/ and handed to the next copy, so a
warm cache needs no network.

Every step that cannot be done here (not root, a tool missing, debootstrap
failing for want of a mirror, nspawn unable to start a container) raises
unittest.SkipTest with the reason.
"""
import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import time
import unittest

SUITE = "bookworm"
# What booting and the probe need beyond minbase (dbus: what a real install
# has; systemctl talks to PID 1 over its private socket without it).
INCLUDE = ["systemd", "systemd-sysv", "dbus"]
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def run(args, timeout, check=True, **kwargs):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def host_mirror():
    """The Debian mirror this machine's apt uses for the main archive
    ($JOBWATCH_DEBIAN_MIRROR overrides), else deb.debian.org."""
    if os.environ.get("JOBWATCH_DEBIAN_MIRROR"):
        return os.environ["JOBWATCH_DEBIAN_MIRROR"]
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) + \
        sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    for path in files:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if path.endswith(".sources"):  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"(?m)^(\w[\w-]*):\s*(.*)$", stanza))
                suites = fields.get("Suites", "").split()
                if "deb" in fields.get("Types", "").split() and SUITE in suites:
                    return fields["URIs"].split()[0]
        else:  # one-line format
            for m in re.finditer(r"(?m)^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s", text):
                if m.group(2) == SUITE:
                    return m.group(1)
    return DEFAULT_MIRROR


def require_tools():
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (debootstrap, systemd-nspawn)")
    for tool, package in (("debootstrap", "debootstrap"), ("systemd-nspawn", "systemd-container")):
        if shutil.which(tool) is None:
            raise unittest.SkipTest(f"{tool} not found (apt-get install {package}; "
                                    "tests/tools/install-deps.sh installs it)")


def cache_dir(build_dir):
    """Where debootstrapped roots are kept: $JOBWATCH_DEBOOTSTRAP_CACHE, else
    /var/cache/jobwatchd-tests when running as root (it outlives build
    directories and clean clones: CI starts from one; a root is keyed by
    suite, packages and mirror, and only ever copied, never booted, so
    reusing it is safe), else the build directory."""
    if os.environ.get("JOBWATCH_DEBOOTSTRAP_CACHE"):
        return os.environ["JOBWATCH_DEBOOTSTRAP_CACHE"]
    if os.geteuid() == 0:
        return "/var/cache/jobwatchd-tests/debootstrap"
    return os.path.join(build_dir, "debootstrap-cache")


class RootCache:
    """The debootstrapped root, made once per key under `cache_dir`."""

    def __init__(self, cache_dir):
        self.mirror = host_mirror()
        key_text = "\n".join([SUITE, "minbase", ",".join(INCLUDE), self.mirror])
        key = f"{SUITE}-minbase-{hashlib.sha256(key_text.encode()).hexdigest()[:10]}"
        self.dir = os.path.join(cache_dir, key)
        self.root = os.path.join(self.dir, "root")
        self.archives = os.path.join(self.dir, "archives")
        self._complete = os.path.join(self.dir, "complete")

    def ensure(self):
        """Returns the cached root, debootstrapping it first if needed."""
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.exists(self._complete):
                self._debootstrap()
        return self.root

    def _debootstrap(self):
        partial = self.root + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
        log = os.path.join(self.dir, "debootstrap.log")
        print(f"debootstrap {SUITE} (minbase + {', '.join(INCLUDE)}) from {self.mirror} "
              f"into {self.dir}; about 3 minutes, once", flush=True)
        started = time.monotonic()
        with open(log, "w") as out:
            try:
                r = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(INCLUDE),
                                    SUITE, partial, self.mirror],
                                   stdout=out, stderr=subprocess.STDOUT, timeout=1200)
                rc = r.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout (1200 s)"
        if rc != 0:
            with open(log) as f:
                tail = f.read()[-1500:]
            shutil.rmtree(partial, ignore_errors=True)
            raise unittest.SkipTest(f"debootstrap from {self.mirror} failed ({rc}); no Debian root "
                                    f"to boot. Log {log}:\n{tail}")
        # debootstrap leaves its mirror in sources.list and the package lists
        # in place, so apt inside resolves the .deb's Depends from them.
        # The .debs debootstrap installed are not needed again: smaller copies.
        for deb in glob.glob(os.path.join(partial, "var/cache/apt/archives/*.deb")):
            os.unlink(deb)
        os.rename(partial, self.root)
        os.makedirs(self.archives, exist_ok=True)
        with open(self._complete, "w") as f:
            f.write(f"{time.time()}\n")
        print(f"debootstrap took {time.monotonic() - started:.0f} s", flush=True)


def copy_root(cache, destination):
    """A fresh copy of the cached root, with the cached .deb archives."""
    run(["cp", "-a", "--reflink=auto", cache.root, destination], timeout=300)
    archives = os.path.join(destination, "var/cache/apt/archives")
    for deb in glob.glob(os.path.join(cache.archives, "*.deb")):
        shutil.copy2(deb, archives)


def keep_archives(cache, root):
    """Stores the .debs apt downloaded inside `root` for the next copy."""
    for deb in glob.glob(os.path.join(root, "var/cache/apt/archives/*.deb")):
        target = os.path.join(cache.archives, os.path.basename(deb))
        if not os.path.exists(target):
            shutil.copy2(deb, target)


def nspawn(root, *command, binds=(), timeout=300, check=True):
    """Runs a command in the root (no boot): a chroot with /proc, /dev and
    the host's resolv.conf."""
    args = ["systemd-nspawn", "-D", root, "-q", "--register=no", "--keep-unit",
            "--resolv-conf=copy-host",
            "--setenv=DEBIAN_FRONTEND=noninteractive"]
    args += [f"--bind-ro={host}:{inside}" for host, inside in binds]
    return run(args + list(command), timeout=timeout, check=check)


def require_nspawn(root):
    r = nspawn(root, "/bin/true", timeout=60, check=False)
    if r.returncode != 0:
        raise unittest.SkipTest("systemd-nspawn cannot start a container here "
                                f"(exit {r.returncode}): {r.stderr.strip()[-800:]}")


def apt_install_deb(cache, root, deb):
    """`apt-get install ./jobwatchd_*.deb` inside the root: apt resolves the
    package's Depends from the mirror (a stale package list is refreshed once)."""
    binds = [(os.path.dirname(deb), "/mnt/deb")]
    command = ["apt-get", "install", "-y", "--no-install-recommends",
               "/mnt/deb/" + os.path.basename(deb)]
    r = nspawn(root, *command, binds=binds, timeout=600, check=False)
    if r.returncode != 0:
        nspawn(root, "apt-get", "update", timeout=300)
        r = nspawn(root, *command, binds=binds, timeout=600)
    keep_archives(cache, root)
    return r.stdout
