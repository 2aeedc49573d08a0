"""pcsc-lite 2.x with polkit: "pcscd refused access" is not "pcscd is not running".

Two halves. The mapping (SCARD_W_SECURITY_VIOLATION → `denied`, and the words of every
front end) is pure logic and runs on every release. The refusal itself comes from a real
pcscd started *without* --disable-polkit: in a root or session without polkit's system
bus (the Debian 13 CI root) pcsc-lite 2.x rejects every client exactly like a remote
session would. pcscd 1.9.9 (Debian 12) has no polkit check, so there the real half is
skipped by name (`pcscd has no polkit support`) and runs in `make test-debian13`.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rig.pcscd import PrivatePcscd, supports_disable_polkit
from rig.ports import free_port_pair
from rig.trayd_cli import run_trayd
from trayd import i18n
from trayd.core import pcsc
from trayd.errors import PcscUnavailable
from trayd.events import ServiceDown
from trayd.messages import describe

ACTIONS = ("org.debian.pcsc-lite.access_pcsc", "org.debian.pcsc-lite.access_card")
NO_POLKIT = "pcscd has no polkit support (pcsc-lite < 2.0, e.g. Debian 12's 1.9.9)"


@pytest.fixture
def language():
    before = i18n.current_language()
    yield i18n.set_language
    i18n.set_language(before)


def test_security_violation_is_denied_not_down() -> None:
    err = pcsc.unavailable(0x8010006A)
    assert err.denied and "8010006A" in err.detail
    assert pcsc.is_service_error(0x8010006A)  # the monitor reconnects (a rule may be added)
    down = pcsc.unavailable(0x8010001D)  # SCARD_E_NO_SERVICE
    assert not down.denied and "8010001D" in down.detail


def test_words_for_denied_in_both_languages(language) -> None:
    from trayd.agent.notifications import NotificationPolicy, Notice
    from trayd.config import Config
    from trayd.ui import tray_menu as m

    for lang, refused, not_running in (("ja", "拒否", "動作していません"),
                                        ("en", "refused access (polkit)", "not running")):
        language(lang)
        text = describe(PcscUnavailable(detail="x", denied=True))
        assert refused in text and not_running not in text
        assert all(a in text for a in ACTIONS)
        assert not_running in describe(PcscUnavailable(detail="x"))
        sent: list[Notice] = []
        policy = NotificationPolicy(Config(), deliver=sent.append,
                                    schedule=lambda job, delay: None, clock=lambda: 0.0)
        policy.on_service_down(ServiceDown(detail="x", denied=True))
        assert refused in sent[0].summary and all(a in sent[0].body for a in ACTIONS)
        state = m.TrayState(service_down=True, service_denied=True)
        assert refused in m.tooltip(state)
        assert refused in m.build_menu(state)[0].text
        assert not_running in m.tooltip(m.TrayState(service_down=True))


@pytest.fixture
def polkit_pcscd(tmp_path):
    """A real pcscd that keeps its polkit check, in a session polkit cannot vouch for."""
    if not supports_disable_polkit():
        pytest.skip(NO_POLKIT)
    daemon = PrivatePcscd(tmp_path / "pcscd-polkit", free_port_pair(), polkit=True)
    daemon.start()
    yield daemon
    daemon.stop()


def test_real_refusal_status_doctor_monitor(polkit_pcscd, trayd_env) -> None:
    env = dict(trayd_env, **polkit_pcscd.env)
    r = run_trayd("status", "--json", env=env)
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["pcsc"] == "denied" and "8010006A" in status["detail"], status
    r = run_trayd("--language", "en", "status", env=env)
    assert "refused access (polkit)" in r.stdout and ACTIONS[0] in r.stdout

    r = run_trayd("doctor", "--json", "--check", "pcscd", "--check", "pcsc_access",
                  "--check", "readers", env=env)
    assert r.returncode == 1, r.stderr
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["pcsc_access"]["status"] == "error"
    assert all(a in checks["pcsc_access"]["fix"] for a in ACTIONS)
    assert "拒否" in checks["pcscd"]["detail"] and "systemctl" not in checks["pcscd"]["fix"]
    assert checks["readers"]["status"] == "skipped"

    # The agent's monitor (in a child: libpcsclite keeps the first socket name per process).
    probe = (
        "import queue, sys\n"
        "from trayd.core.monitor import PcscMonitor\n"
        "from trayd.events import ServiceDown\n"
        "q = queue.Queue()\n"
        "m = PcscMonitor(q.put)\n"
        "m.start()\n"
        "while True:\n"
        "    ev = q.get(timeout=20)\n"
        "    if isinstance(ev, ServiceDown):\n"
        "        print(ev.denied, ev.detail); break\n"
        "m.stop()\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.stdout.startswith("True ") and "8010006A" in out.stdout, out.stderr


def test_the_same_daemon_with_disable_polkit_serves(tmp_path, trayd_env) -> None:
    """The rig's own pcscd: --disable-polkit where supported, so the suite runs at all."""
    daemon = PrivatePcscd(tmp_path / "pcscd-open", free_port_pair())
    daemon.start()
    try:
        r = run_trayd("status", "--json", env=dict(trayd_env, **daemon.env))
        assert json.loads(r.stdout)["pcsc"] == "up", r.stdout + r.stderr
    finally:
        daemon.stop()


def test_a_refusal_reported_as_no_service_is_still_a_refusal(tmp_path, monkeypatch) -> None:
    """libpcsclite says NO_SERVICE when pcscd's close beats its first write: a socket that
    accepts and closes at once is pcscd refusing us; none at all is pcscd not running."""
    import socket
    import threading

    path = tmp_path / "pcscd.comm"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", str(path))

    def refuse() -> None:
        conn, _ = server.accept()
        conn.close()

    t = threading.Thread(target=refuse, daemon=True)
    t.start()
    assert pcsc.classify(0x8010001D) == pcsc.SECURITY_VIOLATION
    t.join(5)
    server.close()
    path.unlink()
    assert pcsc.classify(0x8010001D) == 0x8010001D  # nothing listens: not running
