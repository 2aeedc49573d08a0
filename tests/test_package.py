"""The Debian package, end to end on this machine: build (`make deb`, cached), lintian,
contents, install with apt, the installed trayd from a clean shell, desktop entries and
the user unit validate, a running agent stops on removal, nothing of the package remains
after removal, purge, reinstall.

Needs root (CI runs as root) because it really installs and removes the package; the
package is purged at the end, so the machine is left as it was (without trayd).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]
APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("dpkg-buildpackage"),
    reason="builds and installs a .deb: needs root and dpkg-dev",
)


def sh(*argv: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv} -> {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def version() -> str:
    text = (ROOT / "trayd" / "__init__.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


@pytest.fixture(scope="module")
def deb() -> Path:
    """`make deb`: skipped by build-deb.sh itself when the inputs did not change."""
    t0 = time.monotonic()
    sh("make", "-s", "deb", cwd=ROOT, timeout=1800)
    path = ROOT / sh("packaging/build-deb.sh", "--path", cwd=ROOT).stdout.strip()
    assert path.is_file()
    release = sh("sh", "-c", ". /etc/os-release; echo $VERSION_ID").stdout.strip()
    if Path("/etc/debian_version").exists() and release:
        assert path.name.startswith(f"trayd_{version()}+deb{release.split('.')[0]}_")
    print(f"make deb: {time.monotonic() - t0:.1f} s")
    return path


@pytest.fixture(scope="module")
def extracted(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("deb-root")
    sh("dpkg-deb", "-x", str(deb), str(out))
    return out


def shipped_sources() -> list[str]:
    """Every file of the trayd package in the source tree (what git would add): modules
    and data alike, so a data file missing from pyproject's package-data is caught."""
    r = sh("git", "ls-files", "-co", "--exclude-standard", "--", "trayd", cwd=ROOT)
    return sorted(f for f in r.stdout.split()
                  if (ROOT / f).is_file() and not f.startswith("trayd/locale/"))


def test_python_dependency_is_the_build_interpreter(deb: Path) -> None:
    """The venv inside is built for this X.Y: the package must not install on another."""
    import sys

    depends = sh("dpkg-deb", "-f", str(deb), "Depends").stdout
    major, minor = sys.version_info[:2]
    assert f"python3 (>= {major}.{minor}~)" in depends, depends
    assert f"python3 (<< {major}.{minor + 1})" in depends, depends
    files = sh("dpkg-deb", "-c", str(deb)).stdout
    assert f"/usr/lib/trayd/lib/python{major}.{minor}/site-packages/trayd/" in files


def test_lintian_reports_no_errors(deb: Path) -> None:
    r = sh("lintian", "--fail-on", "error", "--no-tag-display-limit", str(deb), check=False,
           timeout=600)
    errors = [ln for ln in r.stdout.splitlines() if ln.startswith("E:")]
    assert r.returncode == 0 and not errors, r.stdout + r.stderr


def test_contents(deb: Path, extracted: Path) -> None:
    files = {str(p.relative_to(extracted)) for p in extracted.rglob("*")
             if p.is_file() or p.is_symlink()}
    site = next((extracted / "usr/lib/trayd/lib").glob("python3*/site-packages"))
    site_rel = str(site.relative_to(extracted))
    for required in (
        "usr/bin/trayd",
        "usr/share/applications/trayd.desktop",
        "etc/xdg/autostart/trayd-autostart.desktop",
        "usr/lib/systemd/user/trayd.service",
        "usr/share/man/man1/trayd.1.gz",
        "usr/share/bash-completion/completions/trayd",
        "etc/chromium.d/trayd-opensc-mlock",
        "usr/share/icons/hicolor/48x48/apps/trayd.png",
        "usr/share/icons/hicolor/256x256/apps/trayd.png",
        "usr/share/icons/hicolor/scalable/apps/trayd-token-logged-in.svg",
        "usr/share/icons/hicolor/22x22/apps/trayd-token-error.png",
        "usr/lib/trayd/pyvenv.cfg",
        f"{site_rel}/trayd/locale/ja/LC_MESSAGES/trayd.mo",
        f"{site_rel}/trayd/locale/en/LC_MESSAGES/trayd.mo",
        f"{site_rel}/pystray/__init__.py",
        f"{site_rel}/plyer/__init__.py",
        f"{site_rel}/pkcs11/__init__.py",
    ):
        assert required in files, required
    # The whole trayd package, not a hand-picked list.
    missing = [f for f in shipped_sources() if f"{site_rel}/{f}" not in files]
    assert not missing, missing
    # The private PyPI distributions are the pinned versions.
    pins = [ln.split("==") for ln in
            (ROOT / "packaging/debian/constraints.txt").read_text().splitlines()
            if "==" in ln and not ln.startswith("#")]
    for name, ver in pins:
        assert (site / f"{name.replace('-', '_')}-{ver}.dist-info").is_dir(), (name, ver)
    # Debian's own Python packages are used, not private copies.
    for debian_has in ("smartcard", "PIL", "cryptography", "gi", "dbus", "Xlib"):
        assert not (site / debian_has).exists(), debian_has
    # No byte code and no trace of the build directory.
    assert not [f for f in files if f.endswith((".pyc", ".pyo")) or "__pycache__" in f]
    for f in extracted.rglob("*"):
        if f.is_file() and not f.is_symlink():
            assert b"/build/deb/" not in f.read_bytes(), f
    info = sh("dpkg-deb", "-f", str(deb), "Depends").stdout
    for dep in ("pcscd", "opensc-pkcs11", "libnss3-tools", "gir1.2-gtk-3.0",
                "gir1.2-ayatanaappindicator3-0.1", "python3-tk", "python3-pyscard"):
        assert dep in info, dep


def test_desktop_entries_validate(extracted: Path) -> None:
    entry = extracted / "usr/share/applications/trayd.desktop"
    auto = extracted / "usr/share/trayd/trayd-autostart.desktop"
    for path in (entry, auto):
        r = sh("desktop-file-validate", str(path), check=False)
        assert r.returncode == 0 and not r.stdout.strip(), r.stdout
    text = entry.read_text(encoding="utf-8")
    assert "Name[ja]=ePass2003 管理ツール" in text and "Exec=trayd manage" in text
    auto_text = auto.read_text(encoding="utf-8")
    assert "NoDisplay=true" in auto_text and "Exec=trayd run" in auto_text
    link = extracted / "etc/xdg/autostart/trayd-autostart.desktop"
    assert link.is_symlink() and os.readlink(link) == "/usr/share/trayd/trayd-autostart.desktop"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What a fresh login shell has: no virtualenv, no PYTHONPATH, a minimal PATH."""
    return {"PATH": CLEAN_PATH, "HOME": str(home), "LANG": "C.UTF-8", **extra}


def installed_files() -> list[str]:
    return [ln for ln in sh("dpkg", "-L", "trayd").stdout.splitlines()
            if ln.startswith("/") and ln != "/."]


def install(deb: Path) -> None:
    sh(*APT, "install", str(deb), env=APT_ENV, timeout=900)
    assert sh("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "trayd").stdout.strip() == "ii"


def purge() -> None:
    sh(*APT, "purge", "trayd", env=APT_ENV, check=False, timeout=600)


def test_install_use_remove_reinstall(deb: Path, tmp_path: Path, pcscd_up) -> None:
    home = tmp_path / "home"
    (home / "run").mkdir(parents=True)
    os.chmod(home / "run", 0o700)
    try:
        install(deb)
        env = clean_env(home)
        r = sh("/usr/bin/trayd", "--version", env=env, cwd=home)
        assert r.stdout.strip() == f"trayd {version()}"
        # A source checkout in the current directory must not shadow the installed trayd.
        r = sh("trayd", "--version", env=env, cwd=ROOT)
        assert r.stdout.strip() == f"trayd {version()}"
        probe = sh("/usr/lib/trayd/bin/python3", "-s", "-P", "-c",
                   "import trayd, smartcard; print(trayd.__file__); print(smartcard.__file__)",
                   env=env, cwd=home).stdout.split()
        assert probe[0].startswith("/usr/lib/trayd/") and probe[1].startswith("/usr/lib/python3/")

        # status --json: without pcscd, then with the private one (readers listed).
        data = json.loads(sh("trayd", "status", "--json", env=env, cwd=home).stdout)
        assert data["pcsc"] in ("up", "down")
        env_pcsc = clean_env(home, **pcscd_up.env, XDG_RUNTIME_DIR=str(home / "run"))
        data = json.loads(sh("trayd", "status", "--json", env=env_pcsc, cwd=home).stdout)
        assert data["pcsc"] == "up" and any("Virtual PCD" in r["name"] for r in data["readers"])

        # doctor --json: valid JSON, exit status agrees, pcscd seen through the socket.
        r = sh("trayd", "doctor", "--json", env=env_pcsc, cwd=home, check=False)
        assert r.returncode in (0, 1), r.stderr
        doc = json.loads(r.stdout)
        checks = {c["name"]: c for c in doc["checks"]}
        assert r.returncode == (0 if doc["ok"] else 1)
        assert checks["pcscd"]["status"] == "ok" and checks["opensc_module"]["status"] == "ok"
        # Every library imports in the installed environment (Debian's + the private ones).
        assert checks["python"]["status"] == "ok", checks["python"]
        assert checks["autostart"]["status"] == "ok"  # the packaged XDG entry
        assert "/etc/xdg/autostart/trayd-autostart.desktop" in sh(
            "trayd", "autostart", "status", "--json", env=env, cwd=home).stdout

        # Chromium's launcher snippet: RLIMIT_MEMLOCK 0 exactly while OpenSC has bug #3267.
        from trayd.core.opensc_version import behaviour

        snippet = "/etc/chromium.d/trayd-opensc-mlock"
        limit = sh("sh", "-c", f". {snippet}; ulimit -l", env=env, cwd=home).stdout.strip()
        assert (limit == "0") == behaviour().secure_alloc_locks_foreign_pages, limit

        # Catalogues compiled into the package: Japanese by default, English on request.
        ja = sh("trayd", "--help", env=env, cwd=home).stdout
        en = sh("trayd", "--language", "en", "--help", env=env, cwd=home).stdout
        assert JAPANESE.search(ja) and not JAPANESE.search(en)

        # Installed entries and the user unit validate.
        for path in ("/usr/share/applications/trayd.desktop",
                     "/etc/xdg/autostart/trayd-autostart.desktop"):
            r = sh("desktop-file-validate", path, check=False)
            assert r.returncode == 0 and not r.stdout.strip(), r.stdout
        if shutil.which("systemd-analyze"):
            sh("systemd-analyze", "verify", "--user", "/usr/lib/systemd/user/trayd.service",
               env={**clean_env(home), "XDG_RUNTIME_DIR": str(home / "run")})
        if shutil.which("man"):
            assert sh("man", "-w", "trayd", env=env).stdout.strip().endswith("trayd.1.gz")
        # Bash completion offers the discovered commands (from `trayd --help`).
        script = ('source /usr/share/bash-completion/completions/trayd; '
                  'COMP_WORDS=(trayd do); COMP_CWORD=1; _trayd; echo "${COMPREPLY[*]}"; '
                  'COMP_WORDS=(trayd doctor --); COMP_CWORD=2; _trayd; echo "${COMPREPLY[*]}"')
        out = sh("bash", "-c", script, env=env, cwd=home).stdout.splitlines()
        assert out[0].split() == ["doctor"] and "--json" in out[1].split()

        # A running agent (as autostart would start it) stops when the package goes.
        agent = subprocess.Popen(["trayd", "run", "--no-tray"], env=env_pcsc, cwd=home,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            lock = home / "run" / "trayd" / "agent.lock"
            while time.monotonic() < deadline and agent.poll() is None:
                if lock.exists() and lock.read_text().strip() == str(agent.pid):
                    break
                time.sleep(0.2)
            assert agent.poll() is None, agent.stderr.read()
            # A second start (the systemd unit next to the XDG entry) exits at once, 0.
            second = sh("trayd", "run", "--no-tray", env=env_pcsc, cwd=home, timeout=30)
            assert str(agent.pid) in second.stderr + second.stdout
            assert agent.poll() is None
            r = sh("trayd", "doctor", "--json", "--check", "agent", env=env_pcsc, cwd=home)
            assert json.loads(r.stdout)["checks"][0]["status"] == "ok"
            r = sh("trayd", "cleanup", "--dry-run", "--json", env=env_pcsc, cwd=home)
            assert json.loads(r.stdout)["ok"]

            files = installed_files()
            assert "/usr/bin/trayd" in files and "/usr/lib/trayd" in files
            t0 = time.monotonic()
            r = sh(*APT, "remove", "trayd", env=APT_ENV, timeout=600)
            assert "trayd cleanup" in r.stdout + r.stderr  # the removal message
            assert agent.wait(timeout=15) is not None
            print(f"apt-get remove: {time.monotonic() - t0:.1f} s, agent exit {agent.returncode}")
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()

        left = [f for f in files if os.path.lexists(f)]
        for f in left:  # only shared directories may remain, owned by other packages
            assert os.path.isdir(f) and not os.path.islink(f), f
            assert sh("dpkg", "-S", f, check=False).returncode == 0, f
        assert not os.path.lexists("/usr/lib/trayd")
        assert not os.path.lexists("/etc/chromium.d/trayd-opensc-mlock")
        assert shutil.which("trayd", path=CLEAN_PATH) is None

        purge()
        r = sh("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "trayd", check=False)
        assert r.returncode != 0 or r.stdout.strip() in ("", "un", "pn")

        # Reinstall works (and again leaves nothing after purge).
        install(deb)
        assert sh("/usr/bin/trayd", "--version", env=env, cwd=home).stdout.strip() \
            == f"trayd {version()}"
        files = installed_files()
        purge()
        assert not [f for f in files if os.path.lexists(f) and not os.path.isdir(f)]
    finally:
        purge()
