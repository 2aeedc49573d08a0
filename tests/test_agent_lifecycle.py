"""The agent process: one per session, signals, pcscd outages, no server, soak."""
from __future__ import annotations

import signal
import time

import pytest

from rig.timing import GROSS_HANG_S
from rig.trayd_cli import run_trayd
from rig.vpcd import VirtualCard
from test_agent_hotplug import INSERTED, REMOVED, EPassShell, Slot

DOWN = "スマートカード サービス (pcscd) が停止しました。"
UP = "スマートカード サービス (pcscd) が再開しました。"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_agent_promptly(trayd_agent, notification_server, sig):
    agent = trayd_agent()
    time.sleep(0.3)
    rc, elapsed = agent.stop(sig)
    assert rc == 0, agent.log_text()
    assert elapsed < GROSS_HANG_S, f"{elapsed:.2f}s\n{agent.log_text()}"
    assert "trayd agent stopped" in agent.log_text()


def test_second_instance_is_refused_politely(trayd_agent, trayd_env, dbus_session,
                                             notification_server, pcscd_up):
    first = trayd_agent()
    env = {**trayd_env, **dbus_session.env}
    r = run_trayd("run", "--no-tray", env=env, timeout=30)
    assert r.returncode == 0
    assert f"trayd はこのセッションで既に動作しています (pid {first.pid})" in r.stderr
    r = run_trayd("run", "--no-tray", env={**env, "TRAYD_LANGUAGE": "en"}, timeout=30)
    assert r.returncode == 0 and "already running" in r.stderr
    assert first.alive()
    # The first one still works.
    with Slot(EPassShell(), pcscd_up.port(0)):
        notification_server.wait_for(1)
    assert notification_server.notifications[0]["summary"] == INSERTED


def test_lock_is_released_when_the_agent_dies(trayd_agent, notification_server):
    first = trayd_agent()
    first.stop(signal.SIGKILL)
    second = trayd_agent()
    assert second.alive()


def test_no_notification_server_agent_keeps_running(trayd_agent, pcscd_up):
    agent = trayd_agent()
    for _ in range(2):
        with Slot(EPassShell(), pcscd_up.port(0)):
            agent.wait_log("CardInserted(")
    agent.wait_log("CardRemoved(", count=2)
    assert agent.alive()
    text = agent.log_text()
    assert text.count("desktop notifications unavailable") == 1, text
    rc, elapsed = agent.stop()
    assert rc == 0 and elapsed < GROSS_HANG_S


def test_notification_server_appearing_later_is_used(trayd_agent, dbus_session, pcscd_up):
    from rig.fixtures_dbus import RecordingService

    agent = trayd_agent()
    with Slot(EPassShell(), pcscd_up.port(0)):
        agent.wait_log("CardInserted(")
    server = RecordingService(dbus_session, notifications=True)
    server.start()
    try:
        with Slot(EPassShell(), pcscd_up.port(0)):
            server.wait_for(1)
        server.wait_for(2)
        assert [n["summary"] for n in server.notifications] == [INSERTED, REMOVED]
        assert "desktop notifications work again" in agent.log_text()
    finally:
        server.stop()


def test_pcscd_restarted_five_times_then_insertion_still_told(trayd_agent,
                                                             notification_server, pcscd_up):
    agent = trayd_agent()
    for i in range(5):
        pcscd_up.stop(sig=signal.SIGKILL if i % 2 else signal.SIGTERM)
        agent.wait_log("smart card service unavailable", count=i + 1)
        pcscd_up.start()
        agent.wait_log("smart card service is back", count=i + 1)
        agent.wait_log("PC/SC monitor watching 2 reader", count=i + 2)
    notification_server.wait_for(lambda ns: [n["summary"] for n in ns].count(UP) == 5)
    ns = [n["summary"] for n in notification_server.notifications]
    assert ns.count(DOWN) == 5 and ns.count(UP) == 5
    # strictly alternating: told once per outage and once per recovery
    assert [s for s in ns if s in (DOWN, UP)] == [DOWN, UP] * 5
    notification_server.clear()
    with Slot(EPassShell(), pcscd_up.port(1)):
        notification_server.wait_for(1)
    assert notification_server.notifications[0]["summary"] == INSERTED
    assert agent.alive()


def test_agent_started_while_pcscd_is_down(trayd_agent, notification_server, pcscd_up):
    pcscd_up.stop()
    try:
        agent = trayd_agent(wait_ready=False)
        agent.wait_log("smart card service unavailable")
        notification_server.wait_for(1)
        assert notification_server.notifications[0]["summary"] == DOWN
        assert notification_server.notifications[0]["hints"]["urgency"] == 2
    finally:
        pcscd_up.start()
    agent.wait_log("PC/SC monitor watching 2 reader")
    notification_server.wait_for(2)
    assert notification_server.notifications[1]["summary"] == UP
    with Slot(EPassShell(), pcscd_up.port(0)):
        notification_server.wait_for(3)


def test_lock_screen_on_removal(trayd_agent, notification_server, screensaver, pcscd_up):
    trayd_agent(config='on_removal = "lock"\n')
    with Slot(EPassShell(), pcscd_up.port(0)):
        notification_server.wait_for(1)
        assert screensaver.locks == []  # (a late lock for the insertion: the count below)
    screensaver.wait_for(1, kind="lock")
    notification_server.wait_for(2)
    # A card that is not a token does not lock the screen.
    with Slot(VirtualCard(), pcscd_up.port(1)):
        notification_server.wait_for(3)
    notification_server.wait_for(4)
    # The marker: the token's next removal locks; a lock for the card would come before it.
    with Slot(EPassShell(), pcscd_up.port(0)):
        notification_server.wait_for(5)
    screensaver.wait_for(2, kind="lock")
    notification_server.wait_for(6)
    assert len(screensaver.locks) == 2


def test_no_lock_by_default(trayd_agent, notification_server, screensaver, pcscd_up):
    agent = trayd_agent()
    with Slot(EPassShell(), pcscd_up.port(0)):
        notification_server.wait_for(1)
    notification_server.wait_for(2)
    # The removal handler decided (a lock would be started in the same handler instead).
    agent.wait_log("no screen lock (on_removal = none")
    assert screensaver.locks == []


@pytest.mark.slow
def test_100_cycles_no_missed_no_duplicate_no_growth(trayd_agent, notification_server,
                                                     pcscd_up):
    agent = trayd_agent("run", "--no-tray")  # no debug log: the soak measures the product
    slot = Slot(EPassShell(), pcscd_up.port(0))
    # Pace the cycles so that no 6 transitions fall within 2 s *as the agent sees them*
    # (that would be a burst, summarised on purpose): each action starts >= 0.42 s after
    # the previous notification arrived (pcscd notices a removal up to 0.4 s late, so
    # pacing the actions alone is not enough). Every transition must then give exactly
    # one notification.
    spacing = 0.42
    threads = fds = None
    last = time.monotonic() - spacing
    for i in range(100):
        for action, expected in ((slot.insert, INSERTED), (slot.remove, REMOVED)):
            time.sleep(max(0.0, last + spacing - time.monotonic()))
            action()
            n = 2 * i + (1 if expected == INSERTED else 2)
            last = notification_server.wait_for(n, timeout=10)[-1]["time"]
        if i == 4:
            threads, fds = long_lived_threads(agent.pid), agent.fds()
    # A later marker instead of a pause: one more insertion. Notices are delivered in
    # order by one worker, so a duplicate of any earlier one would arrive before it.
    time.sleep(max(0.0, last + spacing - time.monotonic()))
    slot.insert()
    notification_server.wait_for(201, timeout=10)
    ns = [n["summary"] for n in notification_server.notifications]
    assert ns == [INSERTED, REMOVED] * 100 + [INSERTED]
    slot.remove()
    notification_server.wait_for(202, timeout=10)
    assert long_lived_threads(agent.pid) == threads, "threads came or went"
    assert agent.fds() <= fds, "file descriptors leaked"
    rc, elapsed = agent.stop()
    assert rc == 0 and elapsed < GROSS_HANG_S


def long_lived_threads(pid: int) -> list[str]:
    """The agent's thread names, sorted, without GLib's worker pool ("pool", "pool-…"): GLib
    starts those for asynchronous D-Bus work and ends them after some idle seconds."""
    names = (k.split("/")[0] for k in switches(pid))
    return sorted(n for n in names if n != "pool" and not n.startswith("pool-"))


def switches(pid: int) -> dict[str, int]:
    import os
    from pathlib import Path

    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
            comm = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
        n = sum(int(line.split()[1]) for line in status.splitlines()
                if "ctxt_switches:" in line)
        out[f"{comm}/{tid}"] = n
    return out


def test_idle_agent_never_wakes_up(trayd_agent, notification_server, pcscd_up):
    """Zero wake-ups while idle: every thread blocks without a timeout."""
    agent = trayd_agent("run", "--no-tray")
    with Slot(EPassShell(), pcscd_up.port(0)):
        notification_server.wait_for(1)
    notification_server.wait_for(2)
    # Let the removal's work settle (the token service retries a card that is no PKCS#11
    # token for ~2 s): wait for a quiet second, however long the busy machine needs.
    before = switches(agent.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = switches(agent.pid)
        if now == before:
            break
        before = now
    time.sleep(3.0)
    after = switches(agent.pid)
    woke = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert "trayd-pcsc-moni" in " ".join(after), after  # threads carry their names
    assert woke == {}, f"threads woke up while idle: {woke}"


def test_hung_notification_server_delays_nothing_else(trayd_agent, dbus_session,
                                                      screensaver, pcscd_up):
    """A desktop that never answers Notify: the screen still locks at once, later
    transitions are still queued in order, and SIGTERM still ends the agent (no hang)."""
    from rig.fixtures_dbus import RecordingService

    hung = RecordingService(dbus_session, notifications=True, delay=30)
    hung.start()
    try:
        agent = trayd_agent(config='on_removal = "lock"\n')
        with Slot(EPassShell(), pcscd_up.port(0)):
            hung.wait_for(1)  # arrived, never answered
        t_removed = time.monotonic()
        locks = screensaver.wait_for(1, kind="lock", timeout=5)
        assert locks[0]["time"] - t_removed < GROSS_HANG_S
        agent.wait_log("CardRemoved(")
        rc, elapsed = agent.stop()
        assert rc == 0 and elapsed < GROSS_HANG_S, agent.log_text()
    finally:
        hung.stop()
