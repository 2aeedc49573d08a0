"""The first-insertion root certificate prompt inside the real agent.

The real `Agent` (PC/SC monitor on the private pcscd, D-Bus notifier on a private bus with
the recording notification server) runs in this process with the real
`LocalTokenService` over OpenSC and the emulator; the token component identifies inserted
tokens, and `RootPrompt` reacts. With a display the security warning is a real Tk child process
on Xvfb, clicked with xdotool; without one, the notification is asserted.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rig.timing import GROSS_HANG_S
from trayd.events import TokenIdentified

ROOT = Path(__file__).resolve().parent.parent


def mkdb(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
    return path


def certutil_L(db: Path) -> str:
    return subprocess.run(["certutil", "-L", "-d", f"sql:{db}", "-h", "internal"],
                          capture_output=True, text=True, check=True).stdout


def _this_bus_notifier(dbus_session):
    """The real D-Bus notifier, connected to THIS test's bus (an in-process agent would
    otherwise keep the address of the first test's bus)."""
    from trayd.platform.notifier import DbusNotifier

    return DbusNotifier(address=dbus_session.address)


class AgentRun:
    def __init__(self, monkeypatch, dbus_session) -> None:
        from trayd import i18n
        from trayd.agent.agent import Agent
        from trayd.agent.root_prompt import RootPrompt
        from trayd.agent.token_component import TokenComponent
        from trayd.config import Config

        monkeypatch.setenv("TRAYD_LANGUAGE", "en")
        i18n.set_language("en")
        self.cfg = Config(language="en")
        self.agent = Agent(self.cfg, tray=False, notifier=_this_bus_notifier(dbus_session))
        self.identified: list[TokenIdentified] = []
        self.agent.bus.subscribe(TokenIdentified, self.identified.append)
        agent = self.agent
        agent.add_component(TokenComponent(agent.bus, self.cfg, agent.notify, agent.model,
                                           agent.loop))
        self.prompt = RootPrompt(agent.model, self.cfg, agent.notify, agent.launcher)
        agent.add_component(self.prompt)
        self.thread = threading.Thread(target=self.agent.run, daemon=True)

    def __enter__(self) -> "AgentRun":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.agent.request_stop()
        self.thread.join(10)
        from trayd import i18n

        i18n.set_language(os.environ.get("TRAYD_LANGUAGE", "auto"))

    def wait_checks(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.prompt.checks >= n:
                return
            time.sleep(0.05)
        raise AssertionError(f"root prompt checked {self.prompt.checks} tokens, wanted {n}")


def _reinsert_expect_no_dialog(run: AgentRun, tok, hook: Path, widget: str) -> None:
    """Pull and re-insert the token; the second check must not show the warning again."""
    tok.remove()
    _wait_removed(run, tok.reader)
    hook.unlink(missing_ok=True)
    tok.insert()
    run.wait_checks(2)  # counted only after the check, and a dialog blocks the check
    assert not hook.exists() or widget not in json.loads(hook.read_text())["widgets"]


def _wait_removed(run: AgentRun, reader: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = run.agent.model.snapshot().reader(reader)
        if info is None or not info.card_present:
            return
        time.sleep(0.05)
    raise AssertionError("removal not seen")


@pytest.fixture
def headless(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


def test_headless_notifies_once_and_not_on_second_insertion(
        home, epass2003, dbus_session, notification_server, monkeypatch, headless):
    mkdb(home / ".pki/nssdb")
    before = certutil_L(home / ".pki/nssdb")
    tok = epass2003(insert=False)
    with AgentRun(monkeypatch, dbus_session) as run:
        time.sleep(0.5)
        tok.insert()
        run.wait_checks(1)
        notes = notification_server.wait_for(
            lambda ns: [n for n in ns if n["summary"] == "Root certificate not installed"])
        note = [n for n in notes if n["summary"] == "Root certificate not installed"][0]
        assert "trayd root install" in note["body"] and "EPPCERT Test Root CA" in note["body"]
        # the browser offer is a notification too (nothing registered yet)
        notification_server.wait_for(
            lambda ns: any("trayd browser register" in n["body"] for n in ns))
        tok.remove()
        _wait_removed(run, tok.reader)
        tok.insert()
        run.wait_checks(2)
        # A marker through the same notification queue: anything the second check sent
        # arrives before it.
        run.agent.notify("marker")
        notification_server.wait_for(lambda ns: any(n["summary"] == "marker" for n in ns))
        summaries = [n["summary"] for n in notification_server.notifications]
        assert summaries.count("Root certificate not installed") == 1, summaries
        assert len(run.identified) == 2
    # nothing was installed without a yes
    assert certutil_L(home / ".pki/nssdb") == before


# ------------------------------------------------------------------ with a display

def _hook_widget(hook: Path, name: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = json.loads(hook.read_text())
            w = state["widgets"].get(name)
            if w and w.get("viewable") and w["w"] > 1:
                return w
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"no widget {name} in {hook}")


def _click(display: str, w: dict) -> None:
    x, y = w["x"] + w["w"] // 2, w["y"] + w["h"] // 2
    subprocess.run(["xdotool", "mousemove", "--sync", str(x), str(y), "click", "1"],
                   env=dict(os.environ, DISPLAY=display), check=True, timeout=10)


@pytest.fixture
def with_display(xdisplay, monkeypatch, tmp_path):
    monkeypatch.setenv("DISPLAY", xdisplay)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    hook = tmp_path / "ui-hook.json"
    monkeypatch.setenv("TRAYD_UI_TEST_HOOK", str(hook))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return xdisplay, hook


def test_dialog_yes_installs_in_every_database_and_is_not_asked_again(
        home, epass2003, pki, dbus_session, notification_server, monkeypatch, with_display,
        snap):
    display, hook = with_display
    dbs = [mkdb(home / ".pki/nssdb"), mkdb(home / ".mozilla/firefox/x.default-release")]
    tok = epass2003(insert=False)
    with AgentRun(monkeypatch, dbus_session) as run:
        time.sleep(0.5)
        tok.insert()
        yes = _hook_widget(hook, "root.yes")
        text = json.loads(hook.read_text())["widgets"]["root.text"]["text"]
        assert "EPPCERT Test Root CA" in text and "Thumbprint (sha1)" in text
        details = json.loads(hook.read_text())["widgets"]
        from trayd.core.certificates import colon_hex
        from trayd.core.trust_roots import facts

        root = facts(pki.root_der)
        shown = [w.get("text", "") for k, w in details.items() if k.startswith("root.detail.")]
        assert colon_hex(root.sha256) in shown and colon_hex(root.sha1) in shown
        snap("root-warning-dialog")
        _click(display, yes)
        # then the browser offer: はい registers OpenSC
        hook.unlink()
        _click(display, _hook_widget(hook, "browser.yes"))
        run.wait_checks(1)
        notification_server.wait_for(
            lambda ns: any(n["summary"] == "Root certificate installed" for n in ns))
        for db in dbs:
            line = [ln for ln in certutil_L(db).splitlines()
                    if ln.startswith("EPPCERT Test Root CA (trayd)")]
            assert line and line[0].split()[-1] == "C,,", certutil_L(db)
            assert "OpenSC (trayd)" in (db / "pkcs11.txt").read_text()
        # second insertion: already trusted → no dialog
        _reinsert_expect_no_dialog(run, tok, hook, "root.yes")


def test_dialog_no_is_remembered(home, epass2003, pki, dbus_session, notification_server,
                                 monkeypatch, with_display):
    display, hook = with_display
    db = mkdb(home / ".pki/nssdb")
    before = certutil_L(db)
    from trayd.core import trust_state
    from trayd.core.trust_roots import facts

    with trust_state.Update() as st:
        st.browser_declined = True  # only the root question in this test
    tok = epass2003(insert=False)
    with AgentRun(monkeypatch, dbus_session) as run:
        time.sleep(0.5)
        tok.insert()
        _click(display, _hook_widget(hook, "root.no"))
        run.wait_checks(1)
        assert trust_state.is_declined(facts(pki.root_der).sha256)
        _reinsert_expect_no_dialog(run, tok, hook, "root.no")
    assert certutil_L(db) == before


# ------------------------------------------------------------------ the real `trayd run`

def test_trayd_run_headless_notifies_on_first_insertion_only(
        home, epass2003, trayd_agent, notification_server):
    """`trayd run --no-tray` without a display: one Japanese notification telling the user
    to run `trayd root install`, none on the second insertion."""
    mkdb(home / ".pki/nssdb")
    tok = epass2003(insert=False)
    agent = trayd_agent()
    tok.insert()
    agent.wait_log("root prompt: token", timeout=60)
    summary = "ルート証明書がインストールされていません"
    notes = notification_server.wait_for(lambda ns: [n for n in ns if n["summary"] == summary])
    note = [n for n in notes if n["summary"] == summary][0]
    assert "trayd root install" in note["body"] and "EPPCERT Test Root CA" in note["body"]
    tok.remove()
    notification_server.wait_for(lambda ns: [n for n in ns if "外されました" in n["summary"]])
    tok.insert()
    agent.wait_log(f"root prompt: token {tok.serial} checked", count=2, timeout=60)
    # The marker: the removal's notice goes through the same queue after anything the
    # second check sent.
    tok.remove()
    notification_server.wait_for(
        lambda ns: sum("外されました" in n["summary"] for n in ns) >= 2)
    summaries = [n["summary"] for n in notification_server.notifications]
    assert summaries.count("ルート証明書がインストールされていません") == 1, summaries


def test_trayd_run_with_display_yes_then_not_asked_again(
        home, epass2003, trayd_agent, notification_server, xdisplay, tmp_path, snap):
    """The real agent on Xvfb: セキュリティ警告 → はい → C,, in every database; the browser
    offer → いいえ (remembered); the second insertion asks nothing."""
    dbs = [mkdb(home / ".pki/nssdb"), mkdb(home / "snap/firefox/common/.mozilla/firefox/s.default")]
    hook = tmp_path / "hook.json"
    tok = epass2003(insert=False)
    agent = trayd_agent(env={"DISPLAY": xdisplay, "TRAYD_UI_TEST_HOOK": str(hook)})
    tok.insert()
    yes = _hook_widget(hook, "root.yes")
    state = json.loads(hook.read_text())["widgets"]
    assert state["root.window"]["title"] == "セキュリティ警告"
    assert "拇印 (sha1)" in state["root.text"]["text"]
    snap("root-warning-agent-ja")
    _click(xdisplay, yes)
    hook.unlink()
    _click(xdisplay, _hook_widget(hook, "browser.no"))
    notification_server.wait_for(
        lambda ns: any(n["summary"] == "ルート証明書をインストールしました" for n in ns))
    for db in dbs:
        line = [ln for ln in certutil_L(db).splitlines()
                if ln.startswith("EPPCERT Test Root CA (trayd)")]
        assert line and line[0].split()[-1] == "C,,", certutil_L(db)
        assert "OpenSC (trayd)" not in (db / "pkcs11.txt").read_text()  # いいえ
    from trayd.core import trust_state

    # The いいえ is recorded after the dialog exits; the check's end is logged after that.
    agent.wait_log(f"root prompt: token {tok.serial} checked", timeout=60)
    assert trust_state.load().browser_declined
    tok.remove()
    notification_server.wait_for(lambda ns: [n for n in ns if "外されました" in n["summary"]])
    hook.unlink(missing_ok=True)
    tok.insert()
    agent.wait_log("root prompt: token", count=2, timeout=60)
    agent.wait_log("already trusted", timeout=30)
    # A dialog would block the check, so once it is done none can be open.
    agent.wait_log(f"root prompt: token {tok.serial} checked", count=2, timeout=60)
    assert not hook.exists(), "a dialog was shown on the second insertion"


def test_certificates_come_from_the_model_and_a_pulled_token_is_info(home, pki, caplog,
                                                                    headless):
    """The prompt reads nothing from the card: the CA certificate it names came with
    TokenIdentified (DER included). A token pulled before the prompt saw it, or asked
    for again after it left, is a normal event: INFO, no traceback."""
    import logging

    from trayd.agent.root_prompt import RootPrompt
    from trayd.agent.token_model import TokenModel
    from trayd.config import Config
    from trayd.core.certificates import summarize
    from trayd.events import CardInserted, CardRemoved
    from trayd.platform.launcher import Launcher

    mkdb(home / ".pki/nssdb")
    root = summarize(pki.root_der, token_serial="2a5e", label="Root", id_hex="02")
    root.der = pki.root_der
    notices: list[tuple[str, str, str]] = []
    model = TokenModel()
    prompt = RootPrompt(model, Config(), lambda *a: notices.append(a), Launcher("en"))
    caplog.set_level(logging.INFO, logger="trayd.agent.root_prompt")
    prompt.start()
    try:
        model.apply(TokenIdentified(reader="R", serial="gone", label=""))  # reader empty
        model.apply(CardInserted(reader="R", atr=b"", model="ePass2003"))
        model.apply(TokenIdentified(reader="R", serial="2a5e", label="L", certificates=(root,)))
        deadline = time.monotonic() + GROSS_HANG_S
        while prompt.checks < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        model.apply(CardRemoved(reader="R"))
        prompt.offer_again("2a5e")  # pulled meanwhile: nothing to offer
    finally:
        prompt.stop()
    assert prompt.checks == 1
    assert [n[0] for n in notices].count("Root certificate not installed") == 1
    assert "EPPCERT Test Root CA" in notices[0][1]
    records = [r for r in caplog.records if r.name == "trayd.agent.root_prompt"]
    assert all(r.levelno <= logging.INFO and r.exc_info is None for r in records)
    text = caplog.text
    assert "token gone already gone; not checked" in text
    assert "token 2a5e is not inserted; nothing to offer" in text
