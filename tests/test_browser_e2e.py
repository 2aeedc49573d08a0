"""The manual's path (§3.1 ④–⑦) with the real browsers under Xvfb (not headless: headless
Chromium hangs at the PIN), the real agent, pcscd, OpenSC and the virtual ePass2003
(issue 11 item 4, issue 16 "done when").

trayd's own first-run prompt installs the root (はい) and registers OpenSC (はい); the
browser then starts for the first time, makes its profile, and the agent makes that profile
follow (root `C,,`, OpenSC). Against `openssl s_server -Verify 1` on 127.0.0.1 the browser
picks the token's certificate by policy, asks for the PIN in its own window ("Password
Required" / "Unlock Security Device"), xdotool types it, the page loads and the server logs
the token's ES… subject. After `trayd browser unregister` the token is no longer offered.
Screenshots of the PIN window and the loaded page go to tests/_artifacts/ (copies in
docs/screenshots/).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rig.browsers import (CHROMIUM, FIREFOX, FIREFOX_USER_JS, ClientAuthServer,
                          chromium_window, click_dialog, firefox_window, pin_file,
                          wait_for)
from rig.fixtures_emulator import OPENSC_PKCS11
from rig.trayd_cli import run_trayd
from rig.xserver import Xvfb
from trayd.core import trust_state
from trayd.platform import nss

ROOT = Path(__file__).resolve().parent.parent
USER_CN = "ES0123456789AB"

pytestmark = pytest.mark.skipif(not Path(OPENSC_PKCS11).exists(), reason="OpenSC missing")


@pytest.fixture
def screen():
    """A private Xvfb for one browser (its windows must not meet another test's)."""
    x = Xvfb("1280x900x24")
    display = x.start()
    yield display
    x.stop()


def _accept_first_run(epass2003, trayd_agent, notification_server, screen, tmp_path):
    """Token inserted under the running agent: セキュリティ警告 → はい, browser offer → はい."""
    hook = tmp_path / "ui-hook.json"
    tok = epass2003(insert=False)
    agent = trayd_agent("run", "--no-tray", "-v",
                        env={"DISPLAY": screen, "TRAYD_UI_TEST_HOOK": str(hook)})
    tok.insert()
    click_dialog(hook, screen, "root.yes")
    hook.unlink(missing_ok=True)
    click_dialog(hook, screen, "browser.yes")
    notification_server.wait_for(
        lambda ns: any(n["summary"] == "ルート証明書をインストールしました" for n in ns), 60)
    wait_for(lambda: trust_state.load().modules, 60, "OpenSC registered after the はい")
    return tok, agent


def _shot(browser, name: str, artifacts: Path) -> None:
    """Into tests/_artifacts/ (docs/screenshots/ holds copies chosen by hand)."""
    browser.screenshot(artifacts / f"{name}.png")


@pytest.mark.skipif(not FIREFOX, reason="firefox-esr not installed")
def test_firefox_started_after_root_accepted_uses_the_token(
        epass2003, trayd_agent, notification_server, trayd_env, screen, home, pki, tmp_path,
        artifacts):
    tok, agent = _accept_first_run(epass2003, trayd_agent, notification_server, screen,
                                   tmp_path)
    env = dict(trayd_env, DISPLAY=screen)
    # Firefox's first start: it makes its profile; the agent follows within seconds.
    ff = firefox_window("about:blank", env, tmp_path / "firefox-1.log")
    try:
        prof = wait_for(lambda: next((d for d in nss.find_databases(home)
                                      if d.kind == "firefox"), None), 120, "Firefox profile")
        wait_for(lambda: "opensc-pkcs11.so" in (prof.path / "pkcs11.txt").read_text(), 60,
                 "OpenSC in the new profile")
        told = notification_server.wait_for(
            lambda ns: [n for n in ns if "ブラウザに登録しました" in n["body"]], 60)
        assert any("再起動してください" in n["body"] for n in told), told  # Firefox runs
    finally:
        ff.stop()
    (prof.path / "user.js").write_text(FIREFOX_USER_JS)
    server = ClientAuthServer(pki, tmp_path / "s_server.log")
    pin = pin_file(tmp_path, tok.pin)
    signatures = tok.card.signatures
    ff = firefox_window(server.url, env, tmp_path / "firefox-2.log")
    try:
        win = ff.wait_window("Password Required", 120)
        _shot(ff, "firefox-pin-dialog", artifacts)
        ff.type_pin(win, pin)
        wait_for(lambda: USER_CN in server.text(), 120, "the server seeing the token's cert")
        try:
            wait_for(lambda: any(ClientAuthServer.TITLE in n for n in ff.window_names()), 60,
                     "the loaded page's window title", step=0.5)
        except AssertionError:
            _shot(ff, "firefox-page-not-loaded", artifacts)
            raise AssertionError(f"windows: {ff.window_names()}") from None
        _shot(ff, "firefox-page-loaded", artifacts)
        assert tok.card.signatures > signatures  # the handshake was signed on the token
    finally:
        ff.stop()
    # unregister: the next handshake no longer offers the token
    r = run_trayd("browser", "unregister", env=dict(trayd_env, TRAYD_LANGUAGE="en"))
    assert r.returncode == 0, r.stderr
    seen = server.text().count(USER_CN)
    ff = firefox_window(server.url, env, tmp_path / "firefox-3.log")
    try:
        wait_for(lambda: "peer did not return a certificate" in server.text()
                 or "no certificate returned" in server.text().lower(), 120,
                 "a handshake without a client certificate")
        assert not ff.windows("Password Required")
        assert server.text().count(USER_CN) == seen
    finally:
        ff.stop()
        server.stop()


@pytest.mark.skipif(not CHROMIUM, reason="chromium not installed")
def test_chromium_after_root_accepted_uses_the_token(
        epass2003, trayd_agent, notification_server, trayd_env, screen, home, pki, tmp_path,
        artifacts):
    tok, agent = _accept_first_run(epass2003, trayd_agent, notification_server, screen,
                                   tmp_path)
    db = home / ".pki/nssdb"  # trayd made it: every Chromium version opens it
    assert "opensc-pkcs11.so" in (db / "pkcs11.txt").read_text()
    env = dict(trayd_env, DISPLAY=screen)
    server = ClientAuthServer(pki, tmp_path / "s_server.log")
    pin = pin_file(tmp_path, tok.pin)
    signatures = tok.card.signatures
    cr = chromium_window(server.url, env, tmp_path / "chromium-1.log", tmp_path / "cr-data")
    try:
        win = _chromium_pin_window(cr, artifacts)
        _shot(cr, "chromium-pin-dialog", artifacts)
        cr.type_pin(win, pin)
        try:
            _chromium_pick_certificate(cr, server, artifacts)
            wait_for(lambda: USER_CN in server.text(), 120, "the server seeing the token's cert")
        except AssertionError:
            _shot(cr, "chromium-after-pin", artifacts)
            (artifacts / "chromium-s_server.log").write_text(server.text())
            raise
        try:
            wait_for(lambda: any(ClientAuthServer.TITLE in n for n in cr.window_names()), 60,
                     "the loaded page's window title", step=0.5)
        except AssertionError:
            _shot(cr, "chromium-page-not-loaded", artifacts)
            raise AssertionError(f"windows: {cr.window_names()}") from None
        _shot(cr, "chromium-page-loaded", artifacts)
        assert tok.card.signatures > signatures
    finally:
        cr.stop()
    r = run_trayd("browser", "unregister", env=dict(trayd_env, TRAYD_LANGUAGE="en"))
    assert r.returncode == 0, r.stderr
    seen = server.text().count(USER_CN)
    cr = chromium_window(server.url, env, tmp_path / "chromium-2.log", tmp_path / "cr-data")
    try:
        wait_for(lambda: "peer did not return a certificate" in server.text(), 120,
                 "a handshake without a client certificate")
        assert not cr.windows("Unlock Security Device")
        assert server.text().count(USER_CN) == seen
    finally:
        cr.stop()
        server.stop()


def _chromium_pin_window(cr, artifacts: Path) -> str:
    """Chromium asks for the PIN first ("Unlock Security Device": it logs in to list the
    token's certificates), then shows its certificate selector."""
    try:
        return cr.wait_window("Unlock Security Device", 180)
    except AssertionError:
        _shot(cr, "chromium-no-pin-window", artifacts)
        raise AssertionError(f"no PIN window; windows: {cr.window_names()}") from None


def _chromium_pick_certificate(cr, server, artifacts: Path) -> None:
    """The selector ("Select a certificate", the token's certificate preselected) is drawn
    inside Chromium's window (no X window of its own to find): once the PIN window is
    gone, Return on the focused window is its OK; repeated while the server has not seen
    the certificate (the selector may take a moment to appear on a busy machine)."""
    import time

    wait_for(lambda: not cr.windows("Unlock Security Device"), 60, "the PIN window closing")
    deadline = time.monotonic() + 120
    shot = False
    while time.monotonic() < deadline and USER_CN not in server.text():
        time.sleep(3.0)
        if USER_CN in server.text():
            return
        if not shot:
            _shot(cr, "chromium-select-certificate", artifacts)
            shot = True
        cr.xdotool("key", "Return", check=False)
