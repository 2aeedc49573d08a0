"""End to end through the real `trayd run`: bursts, and what `-v` really logs.

The notification policy is tested as pure logic elsewhere; here the real agent (PC/SC
monitor on the private pcscd, D-Bus notifier, the recording notification server) must
schedule the burst summary itself, and `-v` must produce debug output without the PIN.
"""
from __future__ import annotations

import os
import re
import threading

from rig.trayd_cli import run_trayd
from test_agent_hotplug import INSERTED, REMOVED, EPassShell, Slot, wait_summaries

SUMMARY = re.compile(r"^トークンの抜き差しがさらに (\d+) 回ありました。$")
NOTHING_IN = "現在、トークンは挿入されていません。"
PIN = "73915820"  # distinctive: in no serial, ID or certificate


def _cycle(port: int, times: int) -> None:
    slot = Slot(EPassShell(), port)
    for _ in range(times):
        slot.insert()
        slot.remove()


def test_burst_gives_individual_notices_and_one_summary(trayd_agent, notification_server,
                                                        pcscd_up):
    from rig.fixtures_emulator import wait_card_state

    for n in (0, 1):  # whatever an earlier test left must not count here
        wait_card_state(f"Virtual PCD 00 0{n}", present=False, timeout=10)
    agent = trayd_agent()
    # Both readers at once: 12 transitions in about two seconds, well over the limit of
    # 5 within the 2 s window.
    threads = [threading.Thread(target=_cycle, args=(pcscd_up.port(i), 3)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    agent.wait_log("CardRemoved(", count=6)
    seen = agent.log_text().count("CardInserted(") + agent.log_text().count("CardRemoved(")
    assert seen == 12, agent.log_text()
    notes = notification_server.wait_for(
        lambda ns: any(SUMMARY.match(n["summary"]) for n in ns), timeout=20)
    single = [n for n in notes if n["summary"] in (INSERTED, REMOVED)]
    summaries = [n for n in notes if SUMMARY.match(n["summary"])]
    assert len(summaries) == 1, [n["summary"] for n in notes]
    more = int(SUMMARY.match(summaries[0]["summary"]).group(1))
    assert len(single) >= 5 and len(single) + more == seen, [n["summary"] for n in notes]
    assert summaries[0]["body"] == NOTHING_IN
    assert notes[-1] is summaries[0]  # nothing individual after the summary


def test_verbose_agent_logs_debug_but_never_the_pin(trayd_agent, notification_server,
                                                    trayd_env, dbus_session, epass2003):
    agent = trayd_agent("run", "--no-tray", "-v")
    tok = epass2003(pin=PIN)
    env = {**trayd_env, **dbus_session.env}
    r = run_trayd("-v", "login", "--pin-stdin", env=env, input=PIN + "\n")
    assert r.returncode == 0, r.stderr
    assert tok.pin_accepted
    r2 = run_trayd("-v", "logout", env=env)
    assert r2.returncode == 0, r2.stderr
    agent.wait_log("ipc: pid", count=2)
    log = agent.log_text()
    assert re.search(r"^DEBUG ", log, re.M), log[-2000:]
    assert re.search(r"^DEBUG ", r.stderr, re.M), r.stderr  # the CLI's own -v too
    for text in (log, r.stdout, r.stderr, r2.stdout, r2.stderr):
        assert PIN not in text


def test_pcscd_restart_with_a_token_left_in_gives_no_removal_or_insertion(
        trayd_agent, notification_server, pcscd_up):
    """The token stays in while pcscd restarts (the agent is frozen meanwhile, so the
    order is fixed: it reconnects only once the token is back in the new pcscd)."""
    import signal

    from rig.fixtures_emulator import wait_card_state

    for n in (0, 1):  # whatever an earlier test left must not be a burst here
        wait_card_state(f"Virtual PCD 00 0{n}", present=False, timeout=10)
    agent = trayd_agent()
    token = Slot(EPassShell(), pcscd_up.port(0))
    token.insert()
    token.remove()
    token.insert()  # reader 0's event counter is now well above a fresh pcscd's
    wait_summaries(notification_server, [INSERTED, REMOVED, INSERTED], timeout=30)
    reader = "Virtual PCD 00 00"
    os.kill(agent.pid, signal.SIGSTOP)
    try:
        mark = len(notification_server.notifications)
        pcscd_up.stop()
        token.remove()  # vpcd's connection went with pcscd; the token "stays in":
        pcscd_up.start()
        token.insert()
        wait_card_state(reader, present=True, timeout=20)
    finally:
        os.kill(agent.pid, signal.SIGCONT)
    agent.wait_log("smart card service is back", timeout=30)
    marker = Slot(EPassShell(), pcscd_up.port(1))
    marker.insert()
    notification_server.wait_for(
        lambda ns: any(n["summary"] == INSERTED and "00 01" in n["body"] for n in ns[mark:]),
        timeout=30)
    after = [n for n in notification_server.notifications[mark:]
             if n["summary"] in (INSERTED, REMOVED) or SUMMARY.match(n["summary"])]
    assert [n["body"] for n in after if reader in n["body"]] == [], after
    assert [n["summary"] for n in after] == [INSERTED], after
    marker.remove()
    token.remove()
    for n in (0, 1):
        wait_card_state(f"Virtual PCD 00 0{n}", present=False, timeout=10)
