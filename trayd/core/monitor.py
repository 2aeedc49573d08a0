"""The PC/SC hotplug monitor: one thread, blocked in SCardGetStatusChange(INFINITE).

Why not pyscard's CardMonitor/ReaderMonitor: they poll, die for good when pcscd
restarts, miss a remove + re-insert that happens during a callback and can only stop at
their timeout (see docs/design.md). Here one thread waits on every reader plus the PnP
pseudo-reader `\\\\?PnP?\\Notification`, feeds the returned states back in, and
compares pcsc-lite's per-reader event counter (the high 16 bits of the state) so that a
swap between two wake-ups is seen as a removal and an insertion. `SCardCancel` ends the
wait at once; when pcscd goes away the thread reconnects with backoff and reports the
outage once (ServiceDown) and the recovery once (ServiceUp).

The diffing of reader states is a pure class (`StateTracker`) so every corner case
(reader vanishing with a card in it, a CCID token arriving as a new reader with its
card present, counters) is tested without hardware.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from trayd.core.recognition import identify
from trayd.events import (
    CardInserted,
    CardRemoved,
    Event,
    ReaderAdded,
    ReaderRemoved,
    ServiceDown,
    ServiceUp,
)

log = logging.getLogger(__name__)

PNP_READER = "\\\\?PnP?\\Notification"

# pcsc-lite state bits (winscard.h); repeated here so the pure tracker needs no pyscard.
STATE_UNAWARE = 0x0000
STATE_CHANGED = 0x0002
STATE_UNKNOWN = 0x0004
STATE_UNAVAILABLE = 0x0008
STATE_EMPTY = 0x0010
STATE_PRESENT = 0x0020
STATE_MUTE = 0x0200
COUNTER_SHIFT = 16

# Reconnect delays after pcscd vanished (seconds); the last one repeats. Waits are on an
# Event, so stop() interrupts them at once.
BACKOFF = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass
class _Known:
    state: int  # last dwEventState we acted on, CHANGED bit cleared
    atr: bytes


def _present(state: int) -> bool:
    return bool(state & STATE_PRESENT) and not (state & (STATE_UNAVAILABLE | STATE_UNKNOWN))


def _counter(state: int) -> int:
    return (state >> COUNTER_SHIFT) & 0xFFFF


class StateTracker:
    """Turns successive reader lists and SCardGetStatusChange results into events.

    `known` is what we last reported; it survives a pcscd outage so that a restart that
    finds the same card in the same reader reports nothing (the token never left), while
    a card that is gone after the restart is reported as removed.
    """

    def __init__(self) -> None:
        self.known: dict[str, _Known] = {}

    def wait_list(self, readers: Iterable[str]) -> list[tuple[str, int]]:
        """The reader states to pass to SCardGetStatusChange (UNAWARE for new readers)."""
        return [(r, self.known[r].state if r in self.known else STATE_UNAWARE) for r in readers]

    def readers_listed(self, readers: Iterable[str]) -> list[Event]:
        """Readers that are no longer listed: removal of their card, then of the reader."""
        listed = set(readers)
        events: list[Event] = []
        for name in [r for r in self.known if r not in listed]:
            gone = self.known.pop(name)
            if _present(gone.state):
                events.append(CardRemoved(reader=name, atr=gone.atr,
                                          model=identify(gone.atr, name)))
            events.append(ReaderRemoved(reader=name))
        return events

    def states_returned(self, states: Iterable[tuple[str, int, bytes]], *,
                        ignore_counters: bool = False) -> list[Event]:
        """Diff the states returned by SCardGetStatusChange against what we knew.

        `ignore_counters` after a reconnect: a restarted pcscd counts from zero again, so
        only presence and ATR say whether the card is still the same.
        """
        events: list[Event] = []
        for name, state, atr in states:
            if name == PNP_READER:
                continue
            state &= ~STATE_CHANGED
            atr = bytes(atr or b"")
            now = _present(state)
            prev = self.known.get(name)
            if prev is None:
                events.append(ReaderAdded(reader=name))
                if now:
                    # Cards present at start, and a CCID token arriving as a new reader.
                    events.append(CardInserted(reader=name, atr=atr, model=identify(atr, name)))
                self.known[name] = _Known(state, atr if now else b"")
                continue
            was = _present(prev.state)
            # Each insertion and each removal bumps the counter by one; >= 2 more than
            # expected means a remove + re-insert (or the reverse) happened unseen.
            delta = 0 if ignore_counters else (_counter(state) - _counter(prev.state)) & 0xFFFF
            if was and now:
                if delta >= 2 or (atr and prev.atr and atr != prev.atr):
                    events.append(CardRemoved(reader=name, atr=prev.atr,
                                              model=identify(prev.atr, name)))
                    events.append(CardInserted(reader=name, atr=atr, model=identify(atr, name)))
                elif atr and not prev.atr:
                    pass  # the ATR became readable (card was mute): not a new card
            elif was and not now:
                events.append(CardRemoved(reader=name, atr=prev.atr,
                                          model=identify(prev.atr, name)))
            elif now and not was:
                events.append(CardInserted(reader=name, atr=atr, model=identify(atr, name)))
            # absent -> absent with a counter jump: a card came and went unseen; there is
            # nothing to show for it any more, so stay quiet.
            self.known[name] = _Known(state, atr if now else b"")
        return events


class PcscMonitor:
    """Owns one PC/SC context and one thread; posts events through `post`.

    `post` is called on the monitor thread, in order; subscribers must be quick.
    """

    def __init__(self, post: Callable[[Event], None], *,
                 backoff: tuple[float, ...] = BACKOFF) -> None:
        self._post = post
        self._backoff = backoff
        self._tracker = StateTracker()
        self._stop = threading.Event()
        self._ctx_lock = threading.Lock()
        self._ctx: int | None = None
        self._thread: threading.Thread | None = None
        self._down_reported = False
        self._denied = False  # the last failure was pcscd refusing us (polkit)
        self.service_up = False
        self.ready = threading.Event()  # set once the first full reader state was posted
        self._ready_logged = False

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="trayd-pcsc-monitor",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Cancel the blocking wait and join the thread (returns at once in practice)."""
        self._stop.set()
        if not self._thread or self._thread is threading.current_thread():
            return
        # SCardCancel only ends a wait that is already running; if the thread was between
        # its stop check and the wait, the first cancel is lost, so repeat until it ends.
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            with self._ctx_lock:
                if self._ctx is not None:
                    from smartcard import scard

                    scard.SCardCancel(self._ctx)
            self._thread.join(0.05)
        if self._thread.is_alive():
            log.warning("PC/SC monitor thread did not stop within %.1f s", timeout)

    @property
    def alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    # -- the thread ------------------------------------------------------------------
    def _emit(self, events: Iterable[Event]) -> None:
        for event in events:
            log.debug("pcsc event: %s", event)
            self._post(event)

    def _service_down(self, detail: str, denied: bool = False) -> None:
        self.service_up = False
        if not self._down_reported:
            self._down_reported = True
            log.warning("smart card service unavailable: %s", detail)
            self._post(ServiceDown(detail=detail, denied=denied))

    def _why(self, rc: int) -> str:
        """The words for a failed call; remembers whether pcscd refused us (polkit)."""
        from trayd.core.pcsc import error_text, is_access_denied

        self._denied = is_access_denied(rc)
        return error_text(rc)

    def _run(self) -> None:
        """Wait in SCardGetStatusChange(INFINITE) over every reader; post what changed."""
        try:
            from smartcard import scard
        except ImportError as exc:
            log.error("PC/SC monitoring impossible: pyscard is not installed (%s)", exc)
            self._service_down(f"pyscard missing: {exc}")
            self.ready.set()
            return

        attempt = 0
        while not self._stop.is_set():
            rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if rc != scard.SCARD_S_SUCCESS:
                from trayd.core.pcsc import classify

                self._service_down(self._why(classify(rc)), self._denied)
                self.ready.set()
                delay = self._backoff[min(attempt, len(self._backoff) - 1)]
                attempt += 1
                self._stop.wait(delay)
                continue
            with self._ctx_lock:
                self._ctx = ctx
            crashed = False
            try:
                # (stop() may have come before we published the context: then skip)
                reason = None if self._stop.is_set() else self._watch(scard, ctx)
            except Exception:  # noqa: BLE001 - a bug must not end hotplug for good
                log.exception("PC/SC monitor failed; starting over with a new context")
                reason, crashed = "internal error", True
            finally:
                with self._ctx_lock:
                    self._ctx = None
                scard.SCardReleaseContext(ctx)
            if reason is None:
                break
            if crashed:
                delay = self._backoff[min(attempt, len(self._backoff) - 1)]
                attempt += 1
            else:
                self._service_down(reason, self._denied)
                attempt, delay = 0, self._backoff[0]
            self.ready.set()
            self._stop.wait(delay)
        with self._ctx_lock:
            self._ctx = None
        log.debug("PC/SC monitor stopped")

    def _list_readers(self, scard, ctx: int) -> tuple[int, list[str]]:
        rc, readers = scard.SCardListReaders(ctx, [])
        if (rc & 0xFFFFFFFF) == (scard.SCARD_E_NO_READERS_AVAILABLE & 0xFFFFFFFF):
            return scard.SCARD_S_SUCCESS, []
        return rc, list(readers or [])

    def _mark_up(self) -> None:
        """pcscd answers: ServiceUp at the first connection and after each outage."""
        if not self.service_up:
            self.service_up = True
            if self._down_reported:
                self._down_reported = False
                log.info("smart card service is back")
            self._post(ServiceUp())

    def _watch(self, scard, ctx: int) -> str | None:
        """Wait for changes until stop (returns None) or a service error (returns why)."""
        cancelled = scard.SCARD_E_CANCELLED & 0xFFFFFFFF
        timeout = scard.SCARD_E_TIMEOUT & 0xFFFFFFFF
        unknown_reader = scard.SCARD_E_UNKNOWN_READER & 0xFFFFFFFF
        pnp_state = STATE_UNAWARE
        fresh = True  # a new context: pcscd may have restarted and reset its counters
        self._ready_logged = False
        while not self._stop.is_set():
            rc, readers = self._list_readers(scard, ctx)
            if rc != scard.SCARD_S_SUCCESS:
                return self._why(rc)
            self._mark_up()
            self._emit(self._tracker.readers_listed(readers))
            wait = self._tracker.wait_list(readers)
            if wait and (fresh or any(state == STATE_UNAWARE for _, state in wait)):
                # Learn the state of new readers (and, after a reconnect, of all of them)
                # without blocking, then report the differences.
                rc, states = scard.SCardGetStatusChange(
                    ctx, 0, [(r, STATE_UNAWARE) if fresh else (r, s) for r, s in wait])
                code = rc & 0xFFFFFFFF
                if code == unknown_reader:
                    continue  # a reader vanished between list and wait: list again
                if code == cancelled and self._stop.is_set():
                    return None
                if code not in (0, timeout, cancelled):
                    return self._why(rc)
                if code == 0:
                    self._emit(self._tracker.states_returned(states, ignore_counters=fresh))
                    fresh = False
                continue
            fresh = False
            if not self._ready_logged:
                self._ready_logged = True
                log.info("PC/SC monitor watching %d reader(s)", len(wait))
            self.ready.set()
            rc, states = scard.SCardGetStatusChange(
                ctx, scard.INFINITE, [(PNP_READER, pnp_state), *wait])
            code = rc & 0xFFFFFFFF
            if code == cancelled:
                if self._stop.is_set():
                    return None
                continue
            if code in (timeout, unknown_reader):
                continue
            if code != 0:
                return self._why(rc)
            for name, state, _atr in states:
                if name == PNP_READER:
                    pnp_state = state & ~STATE_CHANGED
            self._emit(self._tracker.states_returned(states))
        return None
