"""The manual's path (§3.1 ④–⑦) with Debian's Chromium under Xvfb (not headless: a
headless Chromium hangs at the PIN), the real agent, pcscd, OpenSC and the virtual
ePass2003 (issue 11 item 4).

trayd's own first-run prompt installs the root (はい) and registers OpenSC (はい) in
`~/.pki/nssdb`, the database every Chromium opens. Against `openssl s_server -Verify 1` on
127.0.0.1 Chromium picks the token's certificate by policy (`AutoSelectCertificateForUrls`:
Chromium honours it only as a managed policy, /etc/chromium/policies/managed/), asks for
the PIN in its own window "Unlock Security Device", xdotool types it, the page loads and
the server logs the token's ES… subject. With Chromium still open: a reload (a new full
handshake), `trayd login`, a reload, `trayd logout`, a reload — all sign on the token
without a PIN window and without spending a PIN try. After `trayd browser unregister` the
next handshake offers no certificate. Chromium runs as a user runs it (no CAP_IPC_LOCK)
and, on an OpenSC with bug #3267 (< 0.26.1: Debian 12), with the /etc/chromium.d/
workaround `trayd doctor` asks for — without it Chromium crashed in 5 of 13 runs here
(see `Behaviour.secure_alloc_locks_foreign_pages`). Screenshots go to tests/_artifacts/ (copies in
docs/screenshots/).
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from rig.browser_flow import (USER_CN, accept_first_run, shot, sign_again,
                              trayd_login_logout_beside)
from rig.browsers import CHROMIUM, ClientAuthServer, chromium_window, pin_file, wait_for
from rig.fixtures_emulator import OPENSC_PKCS11
from rig.trayd_cli import run_trayd
from trayd.core.opensc_version import behaviour

pytestmark = [
    pytest.mark.skipif(not Path(OPENSC_PKCS11).exists(), reason="OpenSC missing"),
    pytest.mark.skipif(not CHROMIUM, reason="chromium not installed"),
]

MANAGED_POLICIES = Path("/etc/chromium/policies/managed")
CHROMIUM_D = Path("/etc/chromium.d")
PACKAGED_SNIPPET = Path(__file__).resolve().parent.parent / "packaging/chromium.d/trayd-opensc-mlock"
PIN_WINDOW = "Unlock Security Device"


@pytest.fixture
def chromium_auto_select():
    """`auto_select(url)`: a managed policy that makes Chromium pick the (only) client
    certificate for that origin without its selector; removed at the end. The file name
    is unique, so nothing else in that directory is touched."""
    path = MANAGED_POLICIES / f"trayd-test-{uuid.uuid4().hex}.json"

    def auto_select(url: str) -> None:
        origin = url.split("/", 3)
        pattern = f"{origin[0]}//{origin[2]}"
        MANAGED_POLICIES.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"AutoSelectCertificateForUrls": [
            json.dumps({"pattern": pattern, "filter": {}})]}))

    yield auto_select
    path.unlink(missing_ok=True)


@pytest.fixture
def chromium_as_user(monkeypatch):
    """Chromium as a desktop user runs it: without CAP_IPC_LOCK (the tests run as root,
    and root's mlock() ignores RLIMIT_MEMLOCK). On an OpenSC that mlock()s pages of
    Chromium's heap (OpenSC#3267, < 0.26.1) also the workaround `trayd doctor` gives:
    its /etc/chromium.d/ snippet (sourced by Debian's /usr/bin/chromium) that sets
    RLIMIT_MEMLOCK to 0, so OpenSC's mlock() fails harmlessly. Yields the snippet's path
    (None where OpenSC needs no workaround); removed at the end."""
    monkeypatch.setenv("TRAYD_TEST_CHROMIUM_PREFIX",
                       "setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock "
                       + os.environ.get("TRAYD_TEST_CHROMIUM_PREFIX", ""))
    snippet = None
    if behaviour().secure_alloc_locks_foreign_pages:
        snippet = CHROMIUM_D / f"trayd-test-{uuid.uuid4().hex}"
        # The file the .deb installs as /etc/chromium.d/trayd-opensc-mlock, as it is.
        snippet.write_bytes(PACKAGED_SNIPPET.read_bytes())
    yield snippet
    if snippet:
        snippet.unlink(missing_ok=True)


def _alive(cr, what: str, artifacts: Path) -> None:
    """Fail at once, with Chromium's own log, if the browser process is gone."""
    if cr.proc.poll() is not None:
        cr.log.flush()
        (artifacts / "chromium-died.log").write_bytes(cr.log_path.read_bytes())
        raise AssertionError(f"Chromium exited ({cr.proc.returncode}) {what}; its log: "
                             f"{cr.log_path.read_text(errors='replace')[-3000:]}")


def _wait(cr, cond, timeout: float, what: str, artifacts: Path):
    def check():
        _alive(cr, f"while waiting for {what}", artifacts)
        return cond()
    return wait_for(check, timeout, what, step=0.5)


def test_chromium_uses_the_token_beside_trayd(
        epass2003, trayd_agent, notification_server, trayd_env, screen, home, pki, tmp_path,
        artifacts, chromium_auto_select, chromium_as_user):
    if chromium_as_user:  # OpenSC#3267: doctor now sees the workaround it asks for
        r = run_trayd("doctor", "--json", "--check", "chromium_opensc_mlock", env=trayd_env)
        check = json.loads(r.stdout)["checks"][0]
        assert check["status"] == "ok" and str(chromium_as_user) in check["detail"], check
    tok, _agent = accept_first_run(epass2003, trayd_agent, notification_server, screen,
                                   tmp_path)
    db = home / ".pki/nssdb"  # trayd made it: every Chromium version opens it
    assert "opensc-pkcs11.so" in (db / "pkcs11.txt").read_text()
    env = dict(trayd_env, DISPLAY=screen)
    server = ClientAuthServer(pki, tmp_path / "s_server.log")
    chromium_auto_select(server.url)
    pin = pin_file(tmp_path, tok.pin)
    signatures = tok.card.signatures
    data = tmp_path / "cr-data"
    cr = chromium_window(server.url, env, tmp_path / "chromium-1.log", data)
    try:
        try:
            win = _wait(cr, lambda: (cr.windows(PIN_WINDOW) or [None])[-1], 180,
                        f"a window named {PIN_WINDOW!r}", artifacts)
        except AssertionError as e:
            shot(cr, "chromium-no-pin-window", artifacts)
            raise AssertionError(f"{e}; windows: {cr.window_names()}") from None
        shot(cr, "chromium-pin-dialog", artifacts)
        cr.type_pin(win, pin)
        try:
            _wait(cr, lambda: USER_CN in server.text(), 120,
                  "the server seeing the token's cert", artifacts)
            _wait(cr, lambda: any(ClientAuthServer.TITLE in n for n in cr.window_names()),
                  60, "the loaded page's window title", artifacts)
        except AssertionError:
            shot(cr, "chromium-page-not-loaded", artifacts)
            (artifacts / "chromium-s_server.log").write_text(server.text())
            raise
        shot(cr, "chromium-page-loaded", artifacts)
        assert tok.card.signatures > signatures  # the handshake was signed on the token
        sign_again(cr, server, tok, "on reload", artifacts)
        _alive(cr, "after the reload", artifacts)
        trayd_login_logout_beside(cr, server, tok, trayd_env, artifacts)
        _alive(cr, "after trayd login/logout", artifacts)
    except BaseException:
        server.stop()
        raise
    finally:
        cr.stop()
    # unregister: the next handshake no longer offers the token
    r = run_trayd("browser", "unregister", env=dict(trayd_env, TRAYD_LANGUAGE="en"))
    assert r.returncode == 0, r.stderr
    assert "opensc-pkcs11.so" not in (db / "pkcs11.txt").read_text()
    seen = server.text().count(USER_CN)
    cr = chromium_window(server.url, env, tmp_path / "chromium-2.log", data)
    try:
        _wait(cr, lambda: "peer did not return a certificate" in server.text()
              or "no certificate returned" in server.text().lower(), 120,
              "a handshake without a client certificate", artifacts)
        assert not cr.windows(PIN_WINDOW)
        assert server.text().count(USER_CN) == seen
    finally:
        cr.stop()
        server.stop()
