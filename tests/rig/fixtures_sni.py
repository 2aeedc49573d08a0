"""SNI fixtures: the real StatusNotifierItem host stack on the test's private bus.

`sni_desktop` → `rig.sni.SniDesktop`: `status-notifier-watcher` + `gtk-sni-tray-standalone`
(a bar at the top right of the Xvfb screen) on `dbus_session`, stopped at teardown;
`.stop_watcher()` / `.start_watcher()` make the watcher leave or come back. Never use it
together with an XEmbed test: any watcher on a bus makes the icon leave trayer.
"""
from __future__ import annotations

import pytest

from rig.sni import SniDesktop, sni_tools_missing


@pytest.fixture
def sni_desktop(gui_env, dbus_session, tmp_path):
    missing = sni_tools_missing()
    if missing:
        pytest.fail(f"SNI tools missing: {missing} (packaging/apt-packages.txt)")
    desktop = SniDesktop({**gui_env, **dbus_session.env}, tmp_path / "sni")
    desktop.start()
    yield desktop
    desktop.stop()
