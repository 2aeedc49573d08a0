"""The PC/SC monitor: pure state diffing (every corner case) and the real thread on pcscd."""
from __future__ import annotations

import threading
import time

import pytest

from rig.timing import GROSS_HANG_S
from rig.vpcd import VirtualCard, VpcdLink
from trayd.core.monitor import (
    PNP_READER,
    STATE_EMPTY,
    STATE_MUTE,
    STATE_PRESENT,
    PcscMonitor,
    StateTracker,
)
from trayd.events import (
    CardInserted,
    CardRemoved,
    ReaderAdded,
    ReaderRemoved,
    ServiceDown,
    ServiceUp,
)

EPASS_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
OTHER_ATR = bytes.fromhex("3B8080010101")


def st(present: bool, counter: int) -> int:
    return (counter << 16) | (STATE_PRESENT if present else STATE_EMPTY)


def kinds(events) -> list[tuple[str, str]]:
    return [(type(e).__name__, e.reader) for e in events]


# ------------------------------------------------------------------------ pure tracker
def test_cards_present_at_start_are_reported_once():
    t = StateTracker()
    ev = t.states_returned([(PNP_READER, 0, b""), ("R0", st(True, 1), EPASS_ATR),
                            ("R1", st(False, 0), b"")])
    assert kinds(ev) == [("ReaderAdded", "R0"), ("CardInserted", "R0"), ("ReaderAdded", "R1")]
    assert ev[1].model == "ePass2003" and ev[1].atr == EPASS_ATR
    # The same state again (e.g. a spurious wake-up) reports nothing.
    assert t.states_returned([("R0", st(True, 1), EPASS_ATR), ("R1", st(False, 0), b"")]) == []


def test_insert_then_remove():
    t = StateTracker()
    t.states_returned([("R0", st(False, 0), b"")])
    ins = t.states_returned([("R0", st(True, 1) | 0x2, OTHER_ATR)])
    assert kinds(ins) == [("CardInserted", "R0")] and ins[0].model is None
    rem = t.states_returned([("R0", st(False, 2), b"")])
    assert kinds(rem) == [("CardRemoved", "R0")] and rem[0].atr == OTHER_ATR


def test_swap_between_two_wakeups_is_reported_as_both():
    t = StateTracker()
    t.states_returned([("R0", st(True, 1), EPASS_ATR)])
    ev = t.states_returned([("R0", st(True, 3), EPASS_ATR)])
    assert kinds(ev) == [("CardRemoved", "R0"), ("CardInserted", "R0")]


def test_swap_to_a_different_card_seen_by_atr():
    t = StateTracker()
    t.states_returned([("R0", st(True, 1), EPASS_ATR)])
    ev = t.states_returned([("R0", st(True, 1), OTHER_ATR)])
    assert [type(e) for e in ev] == [CardRemoved, CardInserted]
    assert ev[0].model == "ePass2003" and ev[1].model is None


def test_counter_wraps_around():
    t = StateTracker()
    t.states_returned([("R0", st(True, 0xFFFF), EPASS_ATR)])
    assert kinds(t.states_returned([("R0", st(True, 1), EPASS_ATR)])) == [
        ("CardRemoved", "R0"), ("CardInserted", "R0")]


def test_card_that_came_and_went_unseen_is_quiet():
    t = StateTracker()
    t.states_returned([("R0", st(False, 0), b"")])
    assert t.states_returned([("R0", st(False, 2), b"")]) == []


def test_mute_card_is_still_a_card():
    t = StateTracker()
    t.states_returned([("R0", st(False, 0), b"")])
    ev = t.states_returned([("R0", (1 << 16) | STATE_PRESENT | STATE_MUTE, b"")])
    assert kinds(ev) == [("CardInserted", "R0")]


def test_reader_vanishing_with_a_card_reports_removal_then_reader():
    t = StateTracker()
    t.states_returned([("FT ePass2003Auto 00 00", st(True, 1), EPASS_ATR), ("R1", st(False, 0), b"")])
    ev = t.readers_listed(["R1"])
    assert [type(e) for e in ev] == [CardRemoved, ReaderRemoved]
    assert ev[0].model == "ePass2003"
    assert t.readers_listed(["R1"]) == []


def test_ccid_token_arriving_as_new_reader_with_card_is_an_insertion():
    t = StateTracker()
    assert t.wait_list(["FT ePass2003Auto 00 00"]) == [("FT ePass2003Auto 00 00", 0)]
    ev = t.states_returned([("FT ePass2003Auto 00 00", st(True, 0), EPASS_ATR)])
    assert [type(e) for e in ev] == [ReaderAdded, CardInserted]
    assert ev[1].model == "ePass2003"


def test_reconnect_ignores_reset_counters_but_sees_changes():
    t = StateTracker()
    t.states_returned([("R0", st(True, 7), EPASS_ATR), ("R1", st(True, 3), OTHER_ATR)])
    # pcscd restarted: counters start from 0 again; R0 still holds the same token,
    # R1's card is gone.
    ev = t.states_returned([("R0", st(True, 0), EPASS_ATR), ("R1", st(False, 0), b"")],
                           ignore_counters=True)
    assert kinds(ev) == [("CardRemoved", "R1")]


# ------------------------------------------------------------------ the real thread
class Recorder:
    def __init__(self) -> None:
        self.events: list = []
        self.cond = threading.Condition()

    def __call__(self, event) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait(self, pred, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.events):
                left = deadline - time.monotonic()
                assert left > 0, f"timeout; events: {self.events}"
                self.cond.wait(left)
            return list(self.events)


@pytest.fixture
def monitor(pcscd_up):
    rec = Recorder()
    mon = PcscMonitor(rec)
    mon.start()
    assert mon.ready.wait(10)
    yield mon, rec
    mon.stop()


def test_real_monitor_sees_readers_insert_and_remove(monitor, pcscd_up):
    mon, rec = monitor
    evs = rec.wait(lambda e: sum(isinstance(x, ReaderAdded) for x in e) >= 2)
    assert [e.reader for e in evs if isinstance(e, ReaderAdded)] == [
        "Virtual PCD 00 00", "Virtual PCD 00 01"]
    with VpcdLink(VirtualCard(), pcscd_up.port(1)):
        ev = rec.wait(lambda e: any(isinstance(x, CardInserted) for x in e))
    ins = [x for x in ev if isinstance(x, CardInserted)]
    assert ins[0].reader == "Virtual PCD 00 01" and ins[0].model is None
    rec.wait(lambda e: any(isinstance(x, CardRemoved) for x in e))


def test_stop_cancels_the_infinite_wait_at_once(monitor):
    mon, _rec = monitor
    time.sleep(0.1)
    t0 = time.monotonic()
    mon.stop()
    assert not mon.alive
    assert time.monotonic() - t0 < GROSS_HANG_S  # in practice ~1 ms


def test_pcscd_restart_reports_down_and_up_once_each(pcscd_up):
    rec = Recorder()
    mon = PcscMonitor(rec, backoff=(0.05, 0.1))
    mon.start()
    try:
        assert mon.ready.wait(10)
        link = VpcdLink(VirtualCard(), pcscd_up.port(0))
        link.insert()
        rec.wait(lambda e: any(isinstance(x, CardInserted) for x in e))
        pcscd_up.stop()
        rec.wait(lambda e: any(isinstance(x, ServiceDown) for x in e))
        time.sleep(0.5)  # several reconnect attempts fail meanwhile
        link.remove()
        pcscd_up.start()
        evs = rec.wait(lambda e: sum(isinstance(x, ServiceUp) for x in e) >= 2)
        # The card in reader 0 did not survive the restart (vpcd drops it): removed once.
        evs = rec.wait(lambda e: any(isinstance(x, CardRemoved) for x in e))
        assert sum(isinstance(x, ServiceDown) for x in evs) == 1
        # one ServiceUp at the first connection, one after the outage
        assert [type(x) for x in evs if isinstance(x, (ServiceUp, ServiceDown))] == [
            ServiceUp, ServiceDown, ServiceUp]
        assert not any(isinstance(x, ReaderRemoved) for x in evs)
        with VpcdLink(VirtualCard(), pcscd_up.port(1)):
            rec.wait(lambda e: sum(isinstance(x, CardInserted) for x in e) >= 2)
    finally:
        mon.stop()
        assert not mon.alive


def test_starting_without_pcscd_reports_down_then_up(pcscd_up):
    pcscd_up.stop()
    rec = Recorder()
    mon = PcscMonitor(rec, backoff=(0.05,))
    mon.start()
    try:
        rec.wait(lambda e: any(isinstance(x, ServiceDown) for x in e))
        time.sleep(0.3)
        assert sum(isinstance(x, ServiceDown) for x in rec.events) == 1
        pcscd_up.start()
        evs = rec.wait(lambda e: sum(isinstance(x, ReaderAdded) for x in e) >= 2)
        assert [type(x) for x in evs[:2]] == [ServiceDown, ServiceUp]
    finally:
        t0 = time.monotonic()
        mon.stop()
        assert time.monotonic() - t0 < GROSS_HANG_S


def test_a_crashing_subscriber_bug_does_not_end_monitoring(pcscd_up):
    """Even an exception escaping the watch loop only restarts it (here: the tracker)."""
    rec = Recorder()
    mon = PcscMonitor(rec, backoff=(0.05,))
    calls = {"n": 0}
    real = mon._tracker.states_returned

    def flaky(states, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("bug")
        return real(states, **kw)

    mon._tracker.states_returned = flaky
    mon.start()
    try:
        rec.wait(lambda e: sum(isinstance(x, ReaderAdded) for x in e) >= 2)
        assert not any(isinstance(x, ServiceDown) for x in rec.events)
        with VpcdLink(VirtualCard(), pcscd_up.port(0)):
            rec.wait(lambda e: any(isinstance(x, CardInserted) for x in e))
    finally:
        mon.stop()
