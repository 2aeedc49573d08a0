"""The management window while the agent runs: all token work goes through the agent's
socket (one PKCS#11 worker per card), and live updates come from the agent's events."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from rig.fixtures_ui import tree_iids
from rig.tray_driver import wait_until

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


def _agent_token(client, tok) -> dict | None:
    entry = next((r for r in client.readers()["readers"] if r["name"] == tok.reader), None)
    return entry["token"] if entry else None


def test_manage_window_lists_the_agents_model_without_asking_the_card(
        epass2003, trayd_agent, ui_app, gui_env):
    """With the agent, the window's token list is the agent's token model: opening it sends
    the card nothing, and it follows a wrong PIN and a login made elsewhere (CLI, tray) from
    the agent's events; the information pane then says what a fresh read of the card says."""
    from trayd import errors as E
    from trayd.token_rows import token_rows

    tok = epass2003()
    agent = trayd_agent()
    client = wait_agent_socket()
    try:
        token = wait_until(lambda: _agent_token(client, tok), 30,
                           "the agent identified the token")
        assert token["info"]["serial"] == token["serial"]
        wait_until(tok.quiet_for, 30, "the card idle")  # the agent's own reads are over
        before = len(tok.apdu_log)
        app = ui_app("manage", env={**gui_env})
        app.wait(lambda s: any(i.startswith(f"c:{tok.serial}:") for i in tree_iids(s)), 60,
                 "token listed from the agent's model")
        assert tok.quiet_for(1.5)
        assert len(tok.apdu_log) == before, "listing the tokens reached the card"

        with pytest.raises(E.WrongPin):
            client.login(token["serial"], "00000000")
        client.login(token["serial"], tok.pin)
        app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログアウト", 30,
                 "the window followed the agent's login")
        info = app.wait(lambda s: s["trees"]["manage.info"]["rows"], 10, "token information")
        values = {r["text"]: r["values"][0] for r in info}
        fresh = client.token_info(token["serial"])
        assert (values["シリアル番号"], values["状態"]) == (fresh.serial, "ログイン中")
        assert len(info) == len(token_rows(fresh)), (values, fresh)
        client.logout(token["serial"])
        app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログイン", 30, "logout")
        assert app.state()["trees"]["manage.info"]["rows"] == []
        # Every listing was the model's `readers` answer, none a PKCS#11 round.
        calls = re.findall(rf"ipc: pid {app.proc.pid} -> (\w+)", agent.log_text())
        assert calls.count("readers") >= 2, calls
        assert not {"list_tokens", "list_certificates", "token_info"} & set(calls), calls
    finally:
        client.close()
