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
                  "--password-store=basic", "--use-mock-keychain")


def chromium_argv(url: str, extra: tuple[str, ...] = ()) -> list[str]:
    assert CHROMIUM, "chromium is not installed"
    argv = [CHROMIUM, *CHROMIUM_FLAGS, *extra]
    if os.geteuid() == 0:
        argv.append("--no-sandbox")
    return [*argv, url]


class WindowedBrowser:
    """A browser process on an X display; stop() ends it and its children."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
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

    def wait_window(self, name: str, timeout: float = 120) -> str:
        return wait_for(lambda: (self.windows(name) or [None])[-1], timeout,
                        f"a window named {name!r}", step=0.5)

    def type_pin(self, window: str, pin: str) -> None:
        """Focus the PIN window and type (the PIN goes to the X server only, not argv of a
        trayd process; it is the emulator's test PIN)."""
        self.xdotool("windowactivate", "--sync", window, check=False)
        self.xdotool("windowfocus", "--sync", window, check=False)
        self.xdotool("type", "--delay", "60", "--window", window, pin)
        self.xdotool("key", "--window", window, "Return")

    def screenshot(self, path: Path) -> Path:
        subprocess.run(["import", "-display", self.display, "-window", "root", str(path)],
                       check=True, timeout=60, capture_output=True)
        return path
