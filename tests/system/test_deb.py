# SPDX-License-Identifier: Apache-2.0
"""The Debian package, built with cpack from the configured build tree:
its file list and control data, lintian --pedantic (no tag of any level
beyond those systemd/package/deb/lintian-overrides explains), `cmake --install` keeping an edited
config, and - as root, when jobwatchd is not installed already - a real
`dpkg -i`, the installed binary checking the installed config, and
`dpkg --purge` leaving nothing behind.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE_DIR = os.environ.get(
    "JOBWATCH_SOURCE_DIR",
    os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
BUILD_DIR = os.environ.get("JOBWATCH_BUILD_DIR", os.path.join(SOURCE_DIR, "build", "dev"))

EXPECTED_FILES = [
    "/usr/sbin/jobwatchd",
    "/lib/systemd/system/jobwatchd.service",
    "/etc/jobwatchd/jobwatchd.yaml",
    "/etc/jobwatchd/jobs.yaml",
    "/etc/jobwatchd/hooks/notify-done",
    "/usr/share/jobwatchd/jobwatchd.json",
    "/usr/share/jobwatchd/jobwatchd-alerts.yml",
    "/usr/share/man/man8/jobwatchd.8.gz",
    "/usr/share/bash-completion/completions/jobwatchd",
    "/usr/share/doc/jobwatchd/README.md",
    "/usr/share/doc/jobwatchd/copyright",
    "/usr/share/doc/jobwatchd/changelog.Debian.gz",
    "/usr/share/doc/jobwatchd/examples/hooks-network.conf.example",
    "/usr/share/lintian/overrides/jobwatchd",
]
CONFFILES = ["/etc/jobwatchd/jobwatchd.yaml", "/etc/jobwatchd/jobs.yaml",
             "/etc/jobwatchd/hooks/notify-done"]


def run(*args, check=True, timeout=300, **kwargs):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def build_type():
    with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
        m = re.search(r"(?m)^CMAKE_BUILD_TYPE:\w+=(.*)$", f.read())
    return m.group(1) if m else ""


def installed(package):
    r = run("dpkg-query", "-W", "-f=${Status}", package, check=False)
    return r.returncode == 0 and "installed" in r.stdout.split()


class DebPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="jobwatch-deb-")
        cls.dir = cls._tmp.name
        run("cpack", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-G", "DEB",
            "-B", cls.dir)
        debs = glob.glob(os.path.join(cls.dir, "jobwatchd_*.deb"))
        if len(debs) != 1:
            raise AssertionError(f"expected one .deb in {cls.dir}, found {debs}")
        cls.deb = debs[0]
        print("built", os.path.basename(cls.deb))

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_contents(self):
        listing = run("dpkg-deb", "-c", self.deb).stdout
        entries = {}
        for line in listing.splitlines():
            fields = line.split()
            entries[fields[5].lstrip(".").rstrip("/")] = fields[0]
        for path in EXPECTED_FILES:
            self.assertIn(path, entries, listing)
            self.assertTrue(entries[path].startswith("-"), f"{path}: {entries[path]}")
        self.assertEqual(entries["/usr/sbin/jobwatchd"], "-rwxr-xr-x")
        self.assertEqual(entries["/etc/jobwatchd/hooks/notify-done"], "-rwxr-xr-x")
        self.assertEqual(entries["/etc/jobwatchd/jobwatchd.yaml"], "-rw-r--r--")
        # Nothing under /usr/local or the build tree leaked in.
        for path in entries:
            self.assertFalse(path.startswith(("/usr/local", "/work", "/tmp")), path)

    def test_control(self):
        info = run("dpkg-deb", "-I", self.deb).stdout
        self.assertRegex(info, r"(?m)^ Package: jobwatchd$")
        self.assertRegex(info, r"(?m)^ Section: admin$")
        version = re.search(r"(?m)^ Version: (\S+)$", info).group(1)
        with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
            project_version = re.search(r"project\(jobwatchd VERSION (\S+)", f.read()).group(1)
        self.assertTrue(version.startswith(project_version + "-"), version)
        # A maintainer as Debian wants it (JOBWATCH_DEB_MAINTAINER).
        self.assertRegex(info, r"(?m)^ Maintainer: [^<>]+ <[^<>@ ]+@[^<>@ ]+>$")
        depends = re.search(r"(?m)^ Depends: (.*)$", info).group(1)
        for library in ("libc6", "libcurl4", "libsystemd0", "libsqlite3-0"):
            self.assertIn(library, depends)
        with tempfile.TemporaryDirectory() as control:
            run("dpkg-deb", "-e", self.deb, control)
            with open(os.path.join(control, "conffiles")) as f:
                self.assertEqual(f.read().split(), CONFFILES)
            for script in ("postinst", "prerm", "postrm"):
                path = os.path.join(control, script)
                self.assertTrue(os.access(path, os.X_OK), script)
                with open(path) as f:
                    text = f.read()
                run("sh", "-n", path)
                # The service needs its key first: never enabled or started.
                for verb in ("enable", "start", "restart "):
                    self.assertNotRegex(text, rf"(systemctl|deb-systemd-invoke)\s+{verb}",
                                        script)
                    self.assertNotRegex(text, rf"deb-systemd-helper\s+{verb}", script)

    def test_copyright_says_apache_2_0(self):
        with tempfile.TemporaryDirectory() as tree:
            run("dpkg-deb", "-x", self.deb, tree)
            with open(os.path.join(tree, "usr/share/doc/jobwatchd/copyright")) as f:
                text = f.read()
        # Machine-readable (DEP-5): every file under Apache-2.0, the license
        # pointing at Debian's copy of the text, which is the top-level LICENSE.
        self.assertTrue(text.startswith(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"), text)
        self.assertRegex(text, r"(?m)^Files: \*\nCopyright: .+\nLicense: Apache-2\.0$")
        self.assertIn("/usr/share/common-licenses/Apache-2.0", text)
        with open(os.path.join(SOURCE_DIR, "LICENSE")) as f:
            license_text = f.read()
        self.assertIn("Apache License\n                           Version 2.0, January 2004",
                      license_text)

    def test_lintian_is_clean(self):
        if shutil.which("lintian") is None:
            self.fail("lintian not found: run tests/tools/install-deps.sh")
        # Pedantic: every tag down to P: (info included) counts, unless
        # lintian-overrides explains it (overridden tags are not printed).
        r = run("lintian", "--display-info", "--pedantic", self.deb, check=False, timeout=600)
        complaints = [l for l in r.stdout.splitlines() if re.match(r"^[EWIP]: ", l)]
        # Without optimisation glibc's _FORTIFY_SOURCE does nothing, so a
        # Debug build (the dev preset) cannot have fortified functions.
        if build_type() == "Debug":
            complaints = [l for l in complaints if "hardening-no-fortify-functions" not in l]
        print("lintian:", r.stdout.strip() or "clean")
        self.assertEqual(complaints, [], r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_cmake_install_keeps_an_edited_config(self):
        with tempfile.TemporaryDirectory() as destdir:
            env = dict(os.environ, DESTDIR=destdir)
            run("cmake", "--install", BUILD_DIR, "--prefix", "/usr", env=env)
            config = os.path.join(destdir, "etc/jobwatchd/jobwatchd.yaml")
            with open(config, "a") as f:
                f.write("# edited by the operator\n")
            r = run("cmake", "--install", BUILD_DIR, "--prefix", "/usr", env=env)
            self.assertIn("Keeping:", r.stdout)
            with open(config) as f:
                self.assertTrue(f.read().endswith("# edited by the operator\n"))
            # The unit's ExecStart follows the prefix it was installed with.
            with open(os.path.join(destdir, "lib/systemd/system/jobwatchd.service")) as f:
                self.assertIn("ExecStart=/usr/sbin/jobwatchd ", f.read())
            run("cmake", "--install", BUILD_DIR, "--prefix", "/opt/jw", env=env)
            with open(os.path.join(destdir, "opt/jw/lib/systemd/system/jobwatchd.service")) as f:
                self.assertIn("ExecStart=/opt/jw/sbin/jobwatchd ", f.read())

    def test_install_check_config_and_purge(self):
        if os.geteuid() != 0:
            self.skipTest("dpkg -i needs root")
        if installed("jobwatchd"):
            self.skipTest("jobwatchd is installed on this machine already; not touching it")
        self.addCleanup(self.purge)
        r = run("dpkg", "-i", self.deb, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for path in EXPECTED_FILES:
            self.assertTrue(os.path.lexists(path), path)
        # The installed binary accepts the installed example config (it may
        # warn that the key is not there: CREDENTIALS_DIRECTORY is unset).
        r = run("/usr/sbin/jobwatchd", "--check-config", "--config",
                "/etc/jobwatchd/jobwatchd.yaml", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK", r.stdout)
        # The installed unit verifies silently against the installed binary
        # and man page.
        if shutil.which("systemd-analyze"):
            r = run("systemd-analyze", "verify", "/lib/systemd/system/jobwatchd.service",
                    check=False)
            self.assertEqual((r.returncode, r.stderr), (0, ""))
        # Installed, not enabled, not started.
        self.assertFalse(os.path.lexists(
            "/etc/systemd/system/multi-user.target.wants/jobwatchd.service"))

    def purge(self):
        r = run("dpkg", "--purge", "jobwatchd", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(installed("jobwatchd"))
        for path in EXPECTED_FILES + ["/etc/jobwatchd"]:
            self.assertFalse(os.path.lexists(path), f"{path} left after purge")


if __name__ == "__main__":
    unittest.main(verbosity=2)
