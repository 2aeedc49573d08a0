"""Real Firefox ESR and Chromium for tests: first start in a fresh HOME, and windowed runs
under Xvfb (headless Chromium hangs at the PIN) with the PIN typed by xdotool.

The network is closed here: both start without first-run pages, background networking,
component updates or sync. Chromium as root needs `--no-sandbox`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

from rig.procs import stop_process

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
CHROMIUM = shutil.which("chromium")


def wait_for(cond: Callable[[], object], timeout: float, what: str,
             step: float = 0.2) -> object:
    """Poll a cheap condition (a file, a window) until it holds; fail saying what."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def browser_env(env: dict[str, str]) -> dict[str, str]:
    out = dict(env)
    out.setdefault("MOZ_CRASHREPORTER_DISABLE", "1")
    out["MOZ_DISABLE_AUTO_SAFE_MODE"] = "1"
    out.pop("MOZ_HEADLESS", None)
    return out


def firefox_first_run(env: dict[str, str], tmp: Path, timeout: float = 120) -> None:
    """Start Firefox once headless in `env`'s HOME and let it make its own profile
    (`--screenshot` exits once the page is drawn)."""
    assert FIREFOX, "firefox-esr is not installed"
    subprocess.run([FIREFOX, "--headless", "--no-remote", "--screenshot",
                    str(tmp / "first-run.png"), "about:blank"],
                   env=browser_env(env), stdin=subprocess.DEVNULL, capture_output=True,
                   timeout=timeout, check=True)


CHROMIUM_FLAGS = ("--no-first-run", "--no-default-browser-check",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-features=MediaRouter,OptimizationHints",
                  "--password-store=basic", "--use-mock-keychain",
                  "--enable-logging=stderr")  # its log: the evidence when it fails


def chromium_argv(url: str, extra: tuple[str, ...] = ()) -> list[str]:
    assert CHROMIUM, "chromium is not installed"
    # When investigating: TRAYD_TEST_CHROMIUM_FLAGS adds flags (e.g. "--v=1"),
    # TRAYD_TEST_CHROMIUM_PREFIX a command it runs under (e.g. "strace -ff -o /tmp/cr").
    more = tuple(os.environ.get("TRAYD_TEST_CHROMIUM_FLAGS", "").split())
    prefix = os.environ.get("TRAYD_TEST_CHROMIUM_PREFIX", "").split()
    argv = [*prefix, CHROMIUM, *CHROMIUM_FLAGS, *extra, *more]
    if os.geteuid() == 0:
        argv.append("--no-sandbox")
    return [*argv, url]


class WindowedBrowser:
    """A browser process on an X display; stop() ends it and its children."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(argv, env=browser_env(env), stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.display = env["DISPLAY"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
            except ProcessLookupError:
                pass
        stop_process(self.proc, timeout=15)
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()

    def xdotool(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": self.display},
                           capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError(f"xdotool {args}: {r.stderr}")
        return r.stdout

    def windows(self, name: str) -> list[str]:
        out = self.xdotool("search", "--onlyvisible", "--name", name, check=False)
        return out.split()

    def window_names(self) -> list[str]:
        """Names of every visible window (for failure messages and title checks)."""
        names = []
        out = self.xdotool("search", "--name", ".", check=False)
        for wid in out.split():
            names.append(self.xdotool("getwindowname", wid, check=False).strip())
        return [n for n in names if n]

    def wait_window(self, name: str, timeout: float = 120) -> str:
        return wait_for(lambda: (self.windows(name) or [None])[-1], timeout,
                        f"a window named {name!r}", step=0.5)

    def type_pin(self, window: str, pin_path: Path) -> None:
        """Focus the browser's PIN window and type the PIN (read by xdotool from a 0600
        file: never on argv), then Return. No window manager: XSetInputFocus + XTEST."""
        self.xdotool("windowfocus", "--sync", window, check=False)
        self.xdotool("type", "--delay", "80", "--file", str(pin_path))
        self.xdotool("key", "Return")

    def screenshot(self, path: Path) -> Path:
        subprocess.run(["import", "-display", self.display, "-window", "root", str(path)],
                       check=True, timeout=60, capture_output=True)
        return path


# ------------------------------------------------------------------ the TLS peer

class ClientAuthServer:
    """`openssl s_server -Verify 1 -WWW` on 127.0.0.1: demands a client certificate, logs
    its subject (verify callback) and serves `PAGE` (its <title> shows in the browser's
    window name: the page loaded). No session cache and no TLS 1.3 tickets, so every page
    load is a full handshake with a new signature on the token."""

    TITLE = "trayd client auth OK"
    PAGE = "index.html"

    def __init__(self, pki: Path, log: Path) -> None:
        import socket

        docroot = log.parent / "www"
        docroot.mkdir(exist_ok=True)
        (docroot / self.PAGE).write_text(
            f"<html><head><title>{self.TITLE}</title></head><body><h1>{self.TITLE}</h1>"
            "<p>openssl s_server -Verify 1 accepted the client certificate.</p></body></html>")

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}",
             "-cert", str(pki / "server.pem"), "-key", str(pki / "server.key"),
             "-CAfile", str(pki / "root.pem"), "-Verify", "1", "-no_cache",
             "-num_tickets", "0", "-WWW"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=docroot)
        wait_for(self._listening, 20, "s_server listening")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/{self.PAGE}"

    def _listening(self) -> bool:
        import socket

        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


FIREFOX_USER_JS = """\
// trayd tests: the certificate is picked by policy (manual: the site asks, the user types
// the PIN); no network outside 127.0.0.1 (first-run pages, updates, telemetry off).
user_pref("security.default_personal_cert", "Select Automatically");
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("trailhead.firstrun.didSeeAboutWelcome", true);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.auto", false);
user_pref("app.normandy.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("security.OCSP.enabled", 0);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("browser.sessionstore.resume_from_crash", false);
"""


def firefox_window(url: str, env: dict[str, str], log: Path) -> WindowedBrowser:
    assert FIREFOX, "firefox-esr is not installed"
    return WindowedBrowser([FIREFOX, "--no-remote", "--new-instance", url], env, log)


def pin_file(tmp: Path, pin: str) -> Path:
    """The emulator's test PIN in a 0600 file for `xdotool type --file` (not on argv)."""
    path = tmp / "browser-pin.txt"
    path.write_text(pin)
    path.chmod(0o600)
    return path


def click_dialog(hook: Path, display: str, widget: str, timeout: float = 60) -> None:
    """Click a widget of trayd's own dialog (its TRAYD_UI_TEST_HOOK file gives geometry)."""
    import json

    def find() -> dict | None:
        try:
            w = json.loads(hook.read_text())["widgets"].get(widget)
        except (OSError, ValueError, KeyError):
            return None
        return w if w and w.get("viewable") and w["w"] > 1 else None

    w = wait_for(find, timeout, f"trayd dialog widget {widget}")
    x, y = w["x"] + w["w"] // 2, w["y"] + w["h"] // 2
    subprocess.run(["xdotool", "mousemove", "--sync", str(x), str(y), "click", "1"],
                   env={**os.environ, "DISPLAY": display}, check=True, timeout=30)


def chromium_window(url: str, env: dict[str, str], log: Path, data_dir: Path
                    ) -> WindowedBrowser:
    """Chromium on the display with its own profile directory (NSS database in HOME)."""
    return WindowedBrowser(chromium_argv(url, (f"--user-data-dir={data_dir}",
                                               "--window-size=1200,850")), env, log)
