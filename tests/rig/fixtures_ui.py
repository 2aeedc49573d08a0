"""Driving the real Tk windows (management window, dialogs) under Xvfb.

`ui_app(*args)` starts `python -m trayd.ui <args>` with `TRAYD_UI_TEST_HOOK` pointing at
a JSON file the UI rewrites with widget geometry and state (never entry text); the
returned `UiApp` waits for widgets, clicks their centres and types with xdotool, as a
person with a mouse would. Without a window manager under Xvfb, keyboard focus follows
the pointer, so `type_into()` first moves the pointer over (and clicks) the entry.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rig.procs import stop_process


def tree_iids(state: dict) -> list[str]:
    """Row ids of the management window's token list in a test-hook snapshot
    ("t:<serial>" for tokens, "c:<serial>:<id>" for certificates)."""
    return [r["iid"] for r in state["trees"]["manage.tree"]["rows"]]


class UiApp:
    def __init__(self, args: tuple[str, ...], env: dict[str, str], hook: Path,
                 log: Path, module: str = "trayd.ui") -> None:
        self.hook = hook
        self.env = env
        self.display = env["DISPLAY"]
        self._log = open(log, "wb")
        self.log_path = log
        self.proc = subprocess.Popen([sys.executable, "-m", module, *args], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    # state -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        try:
            return json.loads(self.hook.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"widgets": {}, "trees": {}, "info": {}}

    def wait(self, cond: Callable[[dict[str, Any]], Any], timeout: float = 30.0,
             what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            last = self.state()
            try:
                value = cond(last)
            except (KeyError, IndexError, TypeError):
                value = None
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"UI exited ({self.proc.returncode}) while waiting for "
                                     f"{what}:\n{self.output()}")
            time.sleep(0.1)
        shot = self.failure_shot()
        raise AssertionError(f"timed out waiting for {what} (screen: {shot}); last state: "
                             f"{json.dumps(last, ensure_ascii=False)[:3000]}\n{self.output()}")

    def widget(self, name: str, timeout: float = 30.0, enabled: bool | None = None
               ) -> dict[str, Any]:
        def ok(s: dict[str, Any]) -> dict[str, Any] | None:
            w = s["widgets"].get(name)
            if not w or not w.get("viewable") or w["w"] < 2:
                return None
            if enabled is not None and bool(w.get("disabled")) == enabled:
                return None
            return w
        return self.wait(ok, timeout, f"widget {name} (enabled={enabled})")

    def gone(self, name: str, timeout: float = 30.0) -> None:
        self.wait(lambda s: name not in s["widgets"] or not s["widgets"][name]["viewable"],
                  timeout, f"{name} to close")

    def info(self, key: str) -> Any:
        return self.state()["info"].get(key)

    failure_dir: Path | None = None
    failure_name = "ui"

    def failure_shot(self) -> Path | None:
        """A screenshot of the moment a wait gave up (tests/_artifacts/<test>-timeout.png)."""
        if self.failure_dir is None:
            return None
        path = self.failure_dir / f"{self.failure_name}-timeout.png"
        subprocess.run(["import", "-display", self.display, "-window", "root", str(path)],
                       capture_output=True, timeout=30)
        return path

    # input -----------------------------------------------------------------------------
    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=20,
                       capture_output=True)

    def click_at(self, x: int, y: int) -> None:
        self.xdotool("mousemove", "--sync", str(x), str(y))
        time.sleep(0.05)
        self.xdotool("click", "1")
        time.sleep(0.1)

    def click(self, name: str, timeout: float = 30.0) -> None:
        w = self.widget(name, timeout, enabled=True)
        self.click_at(w["x"] + w["w"] // 2, w["y"] + w["h"] // 2)

    def click_row(self, tree: str, iid: str, timeout: float = 30.0) -> None:
        def row(s: dict[str, Any]) -> dict[str, Any] | None:
            for r in s["trees"][tree]["rows"]:
                if r["iid"] == iid and r["box"]:
                    return r
            return None
        r = self.wait(row, timeout, f"row {iid} of {tree}")
        x, y, w, h = r["box"]
        self.click_at(x + min(w // 2, 120), y + h // 2)

    def type_into(self, name: str, text: str) -> None:
        """Click the entry (focus follows the pointer without a WM) and type."""
        self.click(name)
        self.xdotool("type", "--delay", "30", text)

    def key(self, *keys: str) -> None:
        self.xdotool("key", *keys)

    # life ------------------------------------------------------------------------------
    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"UI did not exit:\n{self.output()}") from None

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


@pytest.fixture
def ui_app(gui_env: dict[str, str], tmp_path: Path, artifacts: Path,
           request: pytest.FixtureRequest):
    """Factory: ui_app("manage") -> UiApp running `python -m trayd.ui manage`
    (`module="trayd"` runs the `trayd` CLI instead); every app is stopped at teardown."""
    apps: list[UiApp] = []

    def start(*args: str, env: dict[str, str] | None = None, module: str = "trayd.ui"
              ) -> UiApp:
        n = len(apps)
        hook = tmp_path / f"ui-hook-{n}.json"
        e = dict(env or gui_env)
        e["TRAYD_UI_TEST_HOOK"] = str(hook)
        app = UiApp(args, e, hook, tmp_path / f"ui-{n}.log", module)
        app.failure_dir = artifacts
        app.failure_name = request.node.name.replace("/", "_")
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.stop()


@pytest.fixture
def ui_snap(snap):
    """Screenshot helper that waits a moment for Tk to finish painting."""
    def take(name: str) -> Path:
        time.sleep(0.4)
        return snap(name)
    return take


__all__ = ["UiApp"]
