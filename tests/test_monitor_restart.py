"""A pcscd restart while a token stays in its reader is not a removal and an insertion.

pcsc-lite counts insertions and removals per reader in the high 16 bits of the event
state; a restarted pcscd counts from zero again, so after a reconnect the monitor must
ignore the counters and compare only presence and ATR. The real monitor thread runs on
the private pcscd; its reconnect is held back (a gated backoff) until the token is back
in the restarted pcscd's reader — what a physical token does by simply staying in — so
the outcome does not depend on which of the two is quicker.
"""
from __future__ import annotations

import threading

from rig.fixtures_emulator import wait_card_state
from rig.vpcd import VirtualCard, VpcdLink
from test_monitor import Recorder
from trayd.core.monitor import PcscMonitor
from trayd.events import CardInserted, CardRemoved, ServiceDown, ServiceUp


class GatedBackoff(tuple):
    """Backoff delays that wait until the test opens the gate (then reconnect at once)."""

    gate: threading.Event

    def __getitem__(self, index):  # type: ignore[override]
        self.gate.wait(60)
        return 0.01


def test_pcscd_restart_with_a_token_left_in_is_quiet(pcscd_up):
    # Start with readers pcscd itself sees empty: a card an earlier test closed a moment
    # ago may not be polled away yet, and an insert in that window is taken by vpcd for
    # the same card that never left (no power-on; the insert below waited in vain).
    for n in (0, 1):
        wait_card_state(f"Virtual PCD 00 0{n}", present=False, timeout=10)
    backoff = GatedBackoff((0.01,))
    backoff.gate = threading.Event()
    rec = Recorder()
    mon = PcscMonitor(rec, backoff=backoff)
    mon.start()
    link = VpcdLink(VirtualCard(), pcscd_up.port(0))
    other = VpcdLink(VirtualCard(), pcscd_up.port(1))
    try:
        assert mon.ready.wait(10)
        reader = None
        # Raise reader 0's event counter well above what a fresh pcscd starts with.
        for n in range(1, 4):
            link.insert()
            evs = rec.wait(lambda e: sum(isinstance(x, CardInserted) for x in e) >= n)
            reader = [x for x in evs if isinstance(x, CardInserted)][-1].reader
            if n < 3:
                link.remove()
                rec.wait(lambda e: sum(isinstance(x, CardRemoved) for x in e) >= n)
        pcscd_up.stop()
        rec.wait(lambda e: any(isinstance(x, ServiceDown) for x in e))
        mark = len(rec.events)
        link.remove()  # vpcd's socket went with pcscd; the token "stays in":
        pcscd_up.start()
        link.insert()
        wait_card_state(reader, present=True, timeout=20)
        backoff.gate.set()
        rec.wait(lambda e: any(isinstance(x, ServiceUp) for x in e[mark:]))
        # A later event in another reader proves the reconnect's first look is done.
        other.insert()
        evs = rec.wait(lambda e: any(isinstance(x, CardInserted) and x.reader != reader
                                     for x in e[mark:]))
        about_r0 = [x for x in evs[mark:] if isinstance(x, (CardInserted, CardRemoved))
                    and x.reader == reader]
        assert about_r0 == [], about_r0
    finally:
        backoff.gate.set()
        other.remove()
        link.remove()
        mon.stop()
    for n in (0, 1):  # the next test starts with empty readers
        wait_card_state(f"Virtual PCD 00 0{n}", present=False, timeout=10)
