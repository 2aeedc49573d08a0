"""GUI fixtures: an Xvfb display, a tray host, screenshots.

`xdisplay` (session): DISPLAY string of a private Xvfb. `gui_env`: env for child processes
(DISPLAY set). `tray_host`: trayer running on that display (function scope, stopped after).
`snap(name)`: screenshot of the whole screen into tests/_artifacts/<name>.png.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rig.xserver import TrayHost, Xvfb, screenshot


@pytest.fixture(scope="session")
def xdisplay():
    x = Xvfb()
    display = x.start()
    yield display
    x.stop()


@pytest.fixture
def gui_env(xdisplay: str, trayd_env: dict[str, str]) -> dict[str, str]:
    env = dict(trayd_env)
    env["DISPLAY"] = xdisplay
    env.pop("WAYLAND_DISPLAY", None)
    return env


@pytest.fixture
def tray_host(xdisplay: str, gui_env: dict[str, str]):
    host = TrayHost(xdisplay, gui_env)
    host.start()
    yield host
    host.stop()


@pytest.fixture
def snap(xdisplay: str, artifacts: Path) -> Callable[[str], Path]:
    def take(name: str, window: str = "root") -> Path:
        return screenshot(xdisplay, artifacts / f"{name}.png", window)

    return take
