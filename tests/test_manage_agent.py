"""The management window while the agent runs: all token work goes through the agent's
socket (one PKCS#11 worker per card), and live updates come from the agent's events."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from rig.fixtures_ui import tree_iids

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]

if shutil.which("xdotool") is None or shutil.which("Xvfb") is None:  # pragma: no cover
    pytest.skip("needs Xvfb and xdotool", allow_module_level=True)


def wait_agent_socket(timeout: float = 30.0):
    from trayd.ipc.client import connect

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client = connect()
        if client is not None:
            return client
        time.sleep(0.2)
    raise AssertionError("the agent socket never answered")


def test_manage_window_goes_through_the_agent(epass2003, trayd_agent, ui_app, gui_env,
                                              ui_snap):
    tok = epass2003()
    trayd_agent()
    client = wait_agent_socket()
    try:
        app = ui_app("manage", env={**gui_env})
        app.wait(lambda s: any(i.startswith(f"c:{tok.serial}:") for i in tree_iids(s)), 60,
                 "token listed through the agent")
        # The window never loaded the PKCS#11 module itself: the agent owns the card.
        maps = Path(f"/proc/{app.proc.pid}/maps").read_text()
        assert "opensc-pkcs11" not in maps

        app.click("manage.login")
        app.type_into("pin.entry", tok.pin)
        app.click("pin.ok")
        app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログアウト", 60, "login")
        # The login lives in the agent: another client sees it.
        assert any(t.serial == tok.serial and t.logged_in for t in client.list_tokens())
        ui_snap("manage-through-agent")

        tok.remove()
        app.wait(lambda s: not tree_iids(s), 30, "removal seen through agent events")
        tok.insert()
        app.wait(lambda s: f"t:{tok.serial}" in tree_iids(s), 60, "re-insertion")
        assert app.state()["widgets"]["manage.login"]["text"] == "ログイン"
    finally:
        client.close()


def test_manage_window_honours_no_agent(epass2003, trayd_agent, ui_app, gui_env):
    """TRAYD_NO_AGENT=1: the window opens the PKCS#11 module itself although an agent runs."""
    tok = epass2003()
    trayd_agent()
    wait_agent_socket().close()
    app = ui_app("manage", env={**gui_env, "TRAYD_NO_AGENT": "1"})
    app.wait(lambda s: any(i.startswith(f"c:{tok.serial}:") for i in tree_iids(s)), 60,
             "token listed by the window itself")
    maps = Path(f"/proc/{app.proc.pid}/maps").read_text()
    assert "opensc-pkcs11" in maps
