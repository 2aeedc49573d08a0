"""Steps the real-browser tests share (Firefox and Chromium): trayd's first-run はい, a
new handshake in the open browser, trayd login/logout beside it, failure evidence.

Why here: both browsers walk the manual's path (§3.1 ④–⑦) with the same trayd side;
only the browser's own windows and settings differ (tests/rig/browsers.py).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from rig.browsers import ClientAuthServer, click_dialog, wait_for
from rig.trayd_cli import run_trayd
from trayd.core import trust_state

USER_CN = "ES0123456789AB"
PIN_WINDOWS = ("Password Required", "Unlock Security Device")


def accept_first_run(epass2003, trayd_agent, notification_server, screen: str, tmp_path: Path):
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


def shot(browser, name: str, artifacts: Path) -> None:
    """Into tests/_artifacts/ (docs/screenshots/ holds copies chosen by hand)."""
    browser.screenshot(artifacts / f"{name}.png")


def sign_again(browser, server: ClientAuthServer, tok, what: str, artifacts: Path) -> None:
    """Reload the page in the open browser: s_server keeps no session and closes after
    each file, so this is a new full handshake signed on the token. No PIN window may
    appear (the browser's own login stays valid; OpenSC re-authenticates its session)."""
    seen = server.text().count(USER_CN)
    apdus = len(tok.apdu_log)
    win = browser.wait_window(ClientAuthServer.TITLE, 30)
    browser.xdotool("windowfocus", "--sync", win, check=False)
    browser.xdotool("key", "F5")
    try:
        wait_for(lambda: server.text().count(USER_CN) > seen
                 or any(browser.windows(n) for n in PIN_WINDOWS)
                 or browser.proc.poll() is not None, 120, f"a new handshake {what}")
        assert browser.proc.poll() is None, (
            f"the browser exited ({browser.proc.returncode}) {what}: see {browser.log_path}")
        assert not any(browser.windows(n) for n in PIN_WINDOWS), f"PIN asked again {what}"
        wait_for(lambda: browser.windows(ClientAuthServer.TITLE), 60, f"the page {what}")
    except AssertionError:
        shot(browser, f"sign-again-failed-{what.replace(' ', '-')}", artifacts)
        (artifacts / "sign-again-s_server.log").write_text(server.text())
        stacks(browser, artifacts / "sign-again-stacks.txt")
        (artifacts / "sign-again-apdus.txt").write_text("\n".join(
            f"{c.hex()} -> {r.hex()}" for c, r in tok.apdu_log[apdus:]))
        raise


def stacks(browser, out: Path) -> None:
    """Where the browser's processes wait (gdb), for the failure report."""
    pgid = browser.proc.pid
    pids = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True,
                          text=True).stdout.split()
    text = []
    for pid in pids:
        r = subprocess.run(["gdb", "-p", pid, "-batch", "-ex", "thread apply all bt 25"],
                           capture_output=True, text=True, timeout=120)
        frames = [ln for ln in r.stdout.splitlines()
                  if any(k in ln for k in ("Thread ", "sc_", "SCard", "C_", "pcsc", "opensc",
                                           "sm_", "epass", "PK11", "lock", "wait"))]
        text.append(f"=== pid {pid}\n" + "\n".join(frames))
    out.write_text("\n".join(text))


def trayd_login_logout_beside(browser, server: ClientAuthServer, tok, trayd_env: dict,
                              artifacts: Path) -> None:
    """Issue 11.4: with the browser open, log in through trayd, sign again in the browser
    (a new handshake), log out, sign again: all work, and the card spends no PIN try."""
    tries = tok.tries_left
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input=tok.pin + "\n")
    assert r.returncode == 0, r.stdout + r.stderr
    sign_again(browser, server, tok, "after trayd login", artifacts)
    r = run_trayd("logout", env=trayd_env)
    assert r.returncode == 0, r.stdout + r.stderr
    sign_again(browser, server, tok, "after trayd logout", artifacts)
    assert tok.tries_left == tries
