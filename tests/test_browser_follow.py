"""New browser databases follow the user's recorded decisions (issue 16, part 2).

The real agent (`trayd run --no-tray`) watches the profile roots with inotify; the real
Firefox ESR then starts for the first time in the fresh HOME and makes its profile. Within
seconds the profile has the root (trust `C,,`) and OpenSC, recorded in trust.json, and
the user got one notification. Declined decisions are not applied; `trayd cleanup` undoes.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rig.browsers import FIREFOX, firefox_first_run, wait_for
from rig.fixtures_emulator import OPENSC_PKCS11
from rig.trayd_cli import run_trayd
from trayd.core import trust_roots, trust_state
from trayd.platform import browser_module, nss, trust_install

pytestmark = pytest.mark.skipif(not FIREFOX or not Path(OPENSC_PKCS11).exists(),
                                reason="firefox-esr or OpenSC missing")


def _ff_profile(home: Path) -> Path | None:
    for db in nss.find_databases(home):
        if db.kind == "firefox":
            return db.path
    return None


def _certs(db: Path) -> str:
    return subprocess.run(["certutil", "-L", "-d", f"sql:{db}", "-h", "internal"],
                          capture_output=True, text=True, check=True).stdout


def _modules(db: Path) -> str:
    return (db / "pkcs11.txt").read_text()


@pytest.fixture
def accepted(home, pki, monkeypatch):
    """The user said はい to the root and to browser registration (Chromium's database)."""
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(home / "no-pcscd.sock"))
    root = trust_roots.facts(pki.root_der)
    trust_install.install_root(root)
    browser_module.register(OPENSC_PKCS11)
    return root


def _looks(agent, databases: int) -> int:
    """Completed looks of the agent's watcher that saw `databases` databases."""
    return len([line for line in agent.log_text().splitlines()
                if "browser follow: look" in line and f": {databases} database(s)" in line])


def test_profile_made_after_acceptance_gets_root_and_module(accepted, trayd_agent,
                                                           notification_server, trayd_env,
                                                           home, tmp_path):
    agent = trayd_agent("run", "--no-tray", "-v")
    assert _ff_profile(home) is None
    firefox_first_run(trayd_env, tmp_path)
    prof = wait_for(lambda: _ff_profile(home), 30, "Firefox's profile")
    wait_for(lambda: "opensc-pkcs11.so" in _modules(prof) and "(trayd)" in _certs(prof), 60,
             "root and module in the new profile")
    assert "C,," in [line.split()[-1] for line in _certs(prof).splitlines() if "(trayd)" in line]
    st = trust_state.load()
    assert str(prof) in {r.database for r in st.roots}
    assert str(prof) in {m.database for m in st.modules}
    notes = notification_server.wait_for(
        lambda ns: any("ブラウザに登録しました" in n["body"] for n in ns), timeout=30)
    told = [n for n in notes if "ブラウザに登録しました" in n["body"]]
    assert len(told) == 1 and "Firefox" in told[0]["summary"], notes
    # Firefox is still writing its new profile when the agent registers: whether it was
    # running then decides the advice (the agent's log says which).
    running = "running=True" in agent.log_text()
    assert ("再起動してください" in told[0]["body"]) == running, (told, running)
    # The profile stays good: Firefox starts on it again and keeps what trayd added.
    firefox_first_run(trayd_env, tmp_path)
    assert "opensc-pkcs11.so" in _modules(prof) and "(trayd)" in _certs(prof)
    # A second change (a new directory in the root) makes a look that tells nothing again.
    looks = _looks(agent, 2)
    (prof.parent / "unrelated.x").mkdir()
    wait_for(lambda: _looks(agent, 2) > looks, 30, "the look after a new directory")
    # `trayd cleanup` undoes it in the new profile as well.
    agent.stop()
    r = run_trayd("cleanup", "--keep-config", env=dict(trayd_env, TRAYD_LANGUAGE="en"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(trayd)" not in _certs(prof) and "opensc-pkcs11.so" not in _modules(prof)
    assert len([n for n in notification_server.notifications
                if "ブラウザに登録しました" in n["body"]]) == 1


def test_declined_decisions_are_not_applied(home, pki, trayd_agent, notification_server,
                                            trayd_env, tmp_path, monkeypatch):
    """Root declined, browser registration declined: the new profile stays untouched."""
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(home / "no-pcscd.sock"))
    root = trust_roots.facts(pki.root_der)
    trust_install.install_root(root)
    browser_module.register(OPENSC_PKCS11)
    with trust_state.Update() as st:  # later the user declined both
        st.declined.append(root.sha256)
        st.browser_declined = True
    agent = trayd_agent("run", "--no-tray", "-v")
    firefox_first_run(trayd_env, tmp_path)
    prof = wait_for(lambda: _ff_profile(home), 30, "Firefox's profile")
    before_mod, before_certs = _modules(prof), _certs(prof)
    # The watcher's look that saw the new profile (Chromium's database + Firefox's).
    wait_for(lambda: _looks(agent, 2), 30, "the watcher's look after the profile appeared")
    assert _modules(prof) == before_mod and _certs(prof) == before_certs
    assert "opensc-pkcs11.so" not in before_mod and "(trayd)" not in before_certs
    assert not [n for n in notification_server.notifications
                if "ブラウザに登録しました" in n["body"]]


def test_profile_made_before_the_agent_starts_is_followed_at_start(
        accepted, trayd_agent, notification_server, trayd_env, home, tmp_path):
    """Firefox started (and quit) while no agent ran: the agent's first look applies the
    decisions, and since no browser holds the database no restart is asked for."""
    firefox_first_run(trayd_env, tmp_path)
    prof = _ff_profile(home)
    assert prof is not None and "opensc-pkcs11.so" not in _modules(prof)
    trayd_agent("run", "--no-tray", "-v")
    notes = notification_server.wait_for(
        lambda ns: any("ブラウザに登録しました" in n["body"] for n in ns), timeout=30)
    told = [n for n in notes if "ブラウザに登録しました" in n["body"]]
    assert told[0]["body"] == "ブラウザに登録しました。次にブラウザを起動したときから有効になります。"
    assert "opensc-pkcs11.so" in _modules(prof) and "(trayd)" in _certs(prof)


def test_watcher_sleeps_while_firefox_writes_its_profile(accepted, trayd_agent, trayd_env,
                                                         home, tmp_path):
    """No polling and no wake-ups from a busy profile: with Firefox running on a profile
    that already has its database, the agent's loop (its main thread, where the inotify
    watch is served) does not run at all."""
    import time

    from rig.browsers import WindowedBrowser, firefox_first_run
    from test_agent_lifecycle import switches

    firefox_first_run(trayd_env, tmp_path)
    prof = _ff_profile(home)
    agent = trayd_agent("run", "--no-tray", "-v")
    wait_for(lambda: "opensc-pkcs11.so" in _modules(prof), 30, "the start-up look")
    ff = WindowedBrowser([FIREFOX, "--headless", "--no-remote", "about:blank"],
                         dict(trayd_env, DISPLAY=""), tmp_path / "firefox.log")
    try:
        wait_for(lambda: nss.in_use(nss.NssDatabase(prof, "firefox")), 90, "Firefox running")
        time.sleep(2.0)  # let Firefox's start-up burst of writes pass
        before = switches(agent.pid)
        time.sleep(3.0)
        after = switches(agent.pid)
    finally:
        ff.stop()
    assert "browser follow: watching" in agent.log_text()
    loop = [k for k in after if k.endswith(f"/{agent.pid}")]
    assert loop, after
    assert all(after[k] == before.get(k) for k in loop), (before, after)
