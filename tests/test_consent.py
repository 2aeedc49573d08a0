"""Consent: only an explicit 「はい」 installs a root or registers a browser module.

Escape, Return (the default button is いいえ), closing the window, killing the dialog
process and a dialog that cannot start all leave every user NSS database exactly as it
was (`certutil -L` on each); a real いいえ is remembered, a crash is not (the next
insertion asks again). Driven through the real agent (in this process, as in
test_root_prompt) and through `trayd root install --dialog`.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from rig.consent import NOT_YES, answer_not_yes, dialog_pid
from rig.trayd_cli import TRAYD
from test_root_prompt import AgentRun, _hook_widget, certutil_L, mkdb, with_display  # noqa: F401

WAYS = [*NOT_YES, "no-start"]


def user_dbs(home) -> list:
    return [mkdb(home / ".pki/nssdb"), mkdb(home / ".mozilla/firefox/x.default-release"),
            mkdb(home / "snap/firefox/common/.mozilla/firefox/s.default")]


def refuse_in_agent(how, epass2003, monkeypatch, dbus_session, display, hook,
                    widget: str, dialog: str) -> None:
    """Insert the token into a real agent and answer its `dialog` in any way but はい.

    "no-start": the agent's interpreter does not exist, so the dialog cannot start.
    Returns after the agent counted its check (the browser offer follows the root check).
    """
    if how == "no-start":
        monkeypatch.setattr(sys, "executable", "/nonexistent/no-such-python")
    tok = epass2003(insert=False)
    with AgentRun(monkeypatch, dbus_session) as run:
        tok.insert()
        if how != "no-start":
            text = _hook_widget(hook, f"{widget}.text")
            title = json.loads(hook.read_text())["widgets"][f"{widget}.window"]["title"]
            answer_not_yes(how, display, text, title, dialog_pid(os.getpid(), dialog))
        run.wait_checks(1)


@pytest.mark.parametrize("how", WAYS)
def test_agent_root_warning_anything_but_yes_installs_nothing(
        how, home, epass2003, pki, dbus_session, notification_server, monkeypatch,
        with_display, caplog):
    from trayd.core import trust_state
    from trayd.core.trust_roots import facts

    display, hook = with_display
    caplog.set_level(logging.INFO, logger="trayd")
    dbs = user_dbs(home)
    before = [certutil_L(db) for db in dbs]
    with trust_state.Update() as st:
        st.browser_declined = True  # only the root question here
    refuse_in_agent(how, epass2003, monkeypatch, dbus_session, display, hook,
                    "root", "root-warning")
    assert [certutil_L(db) for db in dbs] == before
    sha = facts(pki.root_der).sha256
    if how in ("escape", "return", "close"):
        assert trust_state.is_declined(sha), "a deliberate いいえ is remembered"
    else:
        assert not trust_state.is_declined(sha), "a crash is not an answer: ask again"
        assert "root prompt: dialog failed" in caplog.text
    assert "installed in" not in caplog.text


@pytest.mark.parametrize("how", WAYS)
def test_agent_browser_offer_anything_but_yes_registers_nothing(
        how, home, epass2003, pki, dbus_session, notification_server, monkeypatch,
        with_display, caplog):
    from trayd.core import trust_state
    from trayd.core.trust_roots import facts

    display, hook = with_display
    caplog.set_level(logging.INFO, logger="trayd")
    dbs = user_dbs(home)
    trust_state.decline(facts(pki.root_der).sha256)  # only the browser question here
    refuse_in_agent(how, epass2003, monkeypatch, dbus_session, display, hook,
                    "browser", "browser-offer")
    for db in dbs:
        modules = (db / "pkcs11.txt").read_text()
        assert "OpenSC (trayd)" not in modules, modules
    assert trust_state.load().browser_declined == (how in ("escape", "return", "close"))


# ------------------------------------------------------------------ trayd root install --dialog

@pytest.mark.parametrize("how", WAYS)
def test_cli_dialog_anything_but_yes_installs_nothing(how, gui_env, home, own_pki, tmp_path):
    hook = tmp_path / "hook.json"
    dbs = user_dbs(home)
    before = [certutil_L(db) for db in dbs]
    env = dict(gui_env, TRAYD_LANGUAGE="ja", TRAYD_UI_TEST_HOOK=str(hook))
    if how == "no-start":
        env["DISPLAY"] = ":9999"  # no such X server: the window cannot open
    proc = subprocess.Popen([*TRAYD, "root", "install", "--dialog", "--file",
                             str(own_pki.path("root"))],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        if how != "no-start":
            text = _hook_widget(hook, "root.text")
            title = json.loads(hook.read_text())["widgets"]["root.window"]["title"]
            assert title == "セキュリティ警告"
            answer_not_yes(how, gui_env["DISPLAY"], text, title,
                           dialog_pid(proc.pid, "root-warning"))
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode != 0, out
    assert "インストールしませんでした" in out or "インストールされませんでした" in out, out
    assert [certutil_L(db) for db in dbs] == before


# ------------------------------------------------------------------ the dialogs on their own

@pytest.mark.parametrize("how", NOT_YES)
@pytest.mark.parametrize("command,name", [("confirm-exit", "confirm"),
                                          ("browser-offer", "browser")])
def test_dialog_anything_but_yes_is_no(ui_app, gui_env, how, command, name):
    """Exit confirmation and browser offer: いいえ is the default button, and Escape,
    Return, closing or killing the window never answer はい (exit 0)."""
    app = ui_app(command, env=dict(gui_env, TRAYD_LANGUAGE="ja"))
    text = app.widget(f"{name}.text")
    widgets = app.state()["widgets"]
    assert widgets[f"{name}.yes"]["text"] == "はい" and widgets[f"{name}.no"]["text"] == "いいえ"
    title = widgets[f"{name}.window"]["title"]
    answer_not_yes(how, gui_env["DISPLAY"], text, title, app.proc.pid)
    rc = app.wait_exit()
    assert rc != 0
    if how != "kill":
        assert rc == 6  # an answer: いいえ
