"""The manual's path (§3.1 ④–⑦) with the real browsers under Xvfb (not headless: headless
Chromium hangs at the PIN), the real agent, pcscd, OpenSC and the virtual ePass2003
(issue 11 item 4, issue 16 "done when").

trayd's own first-run prompt installs the root (はい) and registers OpenSC (はい); the
browser then starts for the first time, makes its profile, and the agent makes that profile
follow (root `C,,`, OpenSC). Against `openssl s_server -Verify 1` on 127.0.0.1 the browser
picks the token's certificate by policy, asks for the PIN in its own window ("Password
Required" / "Unlock Security Device"), xdotool types it, the page loads and the server logs
the token's ES… subject; a reload (new full handshake) signs again without a PIN. After
`trayd browser unregister` the token is no longer offered. Both orders of a new user are
covered: root accepted first then Firefox started, and Firefox started first.

Chromium's run of the same path is tests/test_browser_chromium.py; the steps both share
are in tests/rig/browser_flow.py.
Screenshots of the PIN window and the loaded page go to tests/_artifacts/ (copies in
docs/screenshots/).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rig.browser_flow import (USER_CN, accept_first_run, shot, sign_again,
                              trayd_login_logout_beside)
from rig.browsers import (FIREFOX, FIREFOX_USER_JS, ClientAuthServer, firefox_first_run,
                          firefox_window, pin_file, wait_for)
from rig.fixtures_emulator import OPENSC_PKCS11
from rig.trayd_cli import run_trayd
from trayd.platform import nss

pytestmark = pytest.mark.skipif(not Path(OPENSC_PKCS11).exists(), reason="OpenSC missing")


def _firefox_client_auth(prof, tok, env, pki, tmp_path, artifacts, shots: str,
                         beside=None) -> ClientAuthServer:
    """The site asks, Firefox picks the token's certificate by policy, the PIN goes into
    "Password Required", the page loads, the server saw the token's subject; a reload
    signs again; then `beside(ff, server)` runs with Firefox still open. Returns the
    (running) server."""
    (prof.path / "user.js").write_text(FIREFOX_USER_JS)
    server = ClientAuthServer(pki, tmp_path / "s_server.log")
    pin = pin_file(tmp_path, tok.pin)
    signatures = tok.card.signatures
    ff = firefox_window(server.url, env, tmp_path / f"{shots}-2.log")
    try:
        win = ff.wait_window("Password Required", 120)
        shot(ff, f"{shots}-pin-dialog", artifacts)
        ff.type_pin(win, pin)
        wait_for(lambda: USER_CN in server.text(), 120, "the server seeing the token's cert")
        try:
            wait_for(lambda: any(ClientAuthServer.TITLE in n for n in ff.window_names()), 60,
                     "the loaded page's window title", step=0.5)
        except AssertionError:
            shot(ff, f"{shots}-page-not-loaded", artifacts)
            raise AssertionError(f"windows: {ff.window_names()}") from None
        shot(ff, f"{shots}-page-loaded", artifacts)
        assert tok.card.signatures > signatures  # the handshake was signed on the token
        sign_again(ff, server, tok, "on reload", artifacts)
        if beside:
            beside(ff, server)
    except BaseException:
        server.stop()
        raise
    finally:
        ff.stop()
    return server


@pytest.mark.skipif(not FIREFOX, reason="firefox-esr not installed")
def test_firefox_started_after_root_accepted_uses_the_token(
        epass2003, trayd_agent, notification_server, trayd_env, screen, home, pki, tmp_path,
        artifacts):
    tok, agent = accept_first_run(epass2003, trayd_agent, notification_server, screen,
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
    server = _firefox_client_auth(prof, tok, env, pki, tmp_path, artifacts, "firefox")
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


@pytest.mark.skipif(not FIREFOX, reason="firefox-esr not installed")
def test_firefox_started_first_then_root_accepted_uses_the_token(
        epass2003, trayd_agent, notification_server, trayd_env, screen, home, pki, tmp_path,
        artifacts):
    """The other order: Firefox made its profile before trayd saw the token; the first-run
    はい then installs the root and registers OpenSC in that existing profile."""
    firefox_first_run(trayd_env, tmp_path)
    prof = next(d for d in nss.find_databases(home) if d.kind == "firefox")
    assert "opensc-pkcs11.so" not in (prof.path / "pkcs11.txt").read_text()
    tok, _agent = accept_first_run(epass2003, trayd_agent, notification_server, screen,
                                    tmp_path)
    wait_for(lambda: "opensc-pkcs11.so" in (prof.path / "pkcs11.txt").read_text(), 60,
             "OpenSC in the existing profile")
    env = dict(trayd_env, DISPLAY=screen)
    server = _firefox_client_auth(
        prof, tok, env, pki, tmp_path, artifacts, "firefox-first",
        beside=lambda ff, srv: trayd_login_logout_beside(ff, srv, tok, trayd_env, artifacts))
    server.stop()
