"""The agent's one picture of "what is in each reader", fed by the bus.

Why one model: the agent, the notifications, the tray, the token component and the root
prompt each used to keep their own copy of the readers, tokens and certificates, and the
copies drifted (a login the tray missed, certificates read twice). Here the facts the
monitor (`CardInserted`, …) and the token service (`TokenIdentified` with the certificates
it read, `TokenStateChanged`) report become one immutable `Snapshot`; consumers read
`snapshot()` or subscribe to `Change`s, which carry the snapshot before and after the event
(the removal notice names the token that just left). Clients of the agent socket (`trayd
status`, the management window) read it as `Snapshot.to_json()`, the `readers` answer.

Threads: in the agent, events arrive on its one loop (the bus dispatches there), in order.
`apply()` computes the new snapshot under the model's one lock (the IPC server's threads
read snapshots too) and calls the listeners after releasing it, in subscription order (so
a listener may read the model without a deadlock); listeners use `change.after`, not a
count of events.
Listeners must be quick (hand work to a queue). Snapshots are
frozen dataclasses and tuples, safe to keep and read from any thread; the
`CertificateInfo`s inside are shared and must be treated as read-only.

The model subscribes to the bus before anyone else (the agent attaches it first), so every
other bus subscriber already sees the new state.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from trayd.core.models import CertificateInfo, ReaderInfo, TokenInfo
from trayd.events import (
    CardInserted,
    CardRemoved,
    Event,
    EventBus,
    ReaderAdded,
    ReaderRemoved,
    ServiceDown,
    ServiceUp,
    TokenIdentified,
    TokenStateChanged,
)

log = logging.getLogger(__name__)

EVENTS = (ReaderAdded, ReaderRemoved, CardInserted, CardRemoved, TokenIdentified,
          TokenStateChanged, ServiceDown, ServiceUp)


@dataclass(frozen=True)
class TokenEntry:
    """What PKCS#11 read from the token in a reader (known once `TokenIdentified` came).

    `info` is the whole token information as read at identification (versions, PIN
    lengths, flags); `token_info()` gives it with `logged_in`/`locked` as
    `TokenStateChanged` left them. Its `tries_left` and PIN flags stay as read at
    identification: the card is not asked again (OpenSC reports no low-count or final-try
    flag at insertion, and a successful login clears them; `test_manage_agent` compares
    the window's pane with a fresh `token_info` after a wrong PIN and a login)."""

    serial: str
    label: str
    certificates: tuple[CertificateInfo, ...] = ()
    logged_in: bool = False
    locked: bool = False
    info: TokenInfo | None = None

    def token_info(self, reader: ReaderInfo) -> TokenInfo:
        """This token as a `TokenInfo` (what the front ends show), current login/lock
        state; built from the entry alone when identification carried no `info`."""
        base = self.info or TokenInfo(reader=reader.name, slot=-1, label=self.label,
                                      serial=self.serial, manufacturer="",
                                      model=reader.model or "")
        return dataclasses.replace(base, logged_in=self.logged_in, locked=self.locked)


@dataclass(frozen=True)
class ReaderEntry:
    """One reader: what PC/SC says (`reader`) and, once identified, its token."""

    reader: ReaderInfo
    token: TokenEntry | None = None

    @property
    def name(self) -> str:
        return self.reader.name

    @property
    def card_present(self) -> bool:
        return self.reader.card_present

    @property
    def model(self) -> str | None:
        return self.reader.model


@dataclass(frozen=True)
class Snapshot:
    """Every reader (sorted by name) and the pcscd service state, at one moment."""

    readers: tuple[ReaderEntry, ...] = ()
    service_up: bool | None = None  # None until the monitor first connected
    service_denied: bool = False  # the last outage was pcscd refusing us (polkit)

    def reader(self, name: str) -> ReaderEntry | None:
        return next((r for r in self.readers if r.name == name), None)

    def to_json(self) -> dict:
        """What the agent knows, for its socket's `readers` query (`trayd status`): every
        reader as `ReaderInfo.to_json()` plus its token, with its `TokenInfo` as `info`
        (no DER: the CLI contract)."""
        state = None if self.service_up is None else (
            "up" if self.service_up else ("denied" if self.service_denied else "down"))
        readers = []
        for entry in self.readers:
            out = entry.reader.to_json()
            token = entry.token
            out["token"] = None if token is None else {
                "serial": token.serial, "label": token.label,
                "logged_in": token.logged_in, "locked": token.locked,
                "info": token.token_info(entry.reader).to_json(),
                "certificates": [c.to_json() for c in token.certificates]}
            readers.append(out)
        return {"pcsc": state, "readers": readers}

    def tokens(self) -> tuple[tuple[ReaderEntry, TokenEntry], ...]:
        """(reader, token) for each identified token that is still in."""
        return tuple((r, r.token) for r in self.readers if r.token is not None)

    def token(self, serial: str) -> tuple[ReaderEntry, TokenEntry] | None:
        return next(((r, t) for r, t in self.tokens() if t.serial == serial), None)


@dataclass(frozen=True)
class Change:
    """What one event did: the snapshot before and after it (equal if it changed nothing)."""

    event: Event
    before: Snapshot
    after: Snapshot


Listener = Callable[[Change], None]


def _replace(snap: Snapshot, name: str, entry: ReaderEntry | None) -> Snapshot:
    """`snap` with reader `name` set to `entry` (None: dropped)."""
    rest = [r for r in snap.readers if r.name != name]
    if entry is not None:
        rest.append(entry)
    return dataclasses.replace(snap, readers=tuple(sorted(rest, key=lambda r: r.name)))


def _next(snap: Snapshot, ev: Event) -> Snapshot:
    """The pure transition: `snap` after `ev`."""
    if isinstance(ev, ReaderAdded):
        if snap.reader(ev.reader) is not None:
            return snap
        return _replace(snap, ev.reader, ReaderEntry(ReaderInfo(ev.reader)))
    if isinstance(ev, ReaderRemoved):
        return _replace(snap, ev.reader, None)
    if isinstance(ev, CardInserted):
        return _replace(snap, ev.reader, ReaderEntry(ReaderInfo(
            ev.reader, card_present=True, atr=ev.atr, model=ev.model)))
    if isinstance(ev, CardRemoved):
        return _replace(snap, ev.reader, ReaderEntry(ReaderInfo(ev.reader)))
    if isinstance(ev, TokenIdentified):
        current = snap.reader(ev.reader)
        if current is None or not current.card_present:
            return snap  # pulled before the token service finished reading it
        reader = current.reader
        if reader.model is None and ev.model:
            reader = dataclasses.replace(reader, model=ev.model)
        return _replace(snap, ev.reader, ReaderEntry(reader, TokenEntry(
            ev.serial, ev.label, tuple(ev.certificates), locked=ev.locked, info=ev.info)))
    if isinstance(ev, TokenStateChanged):
        for entry in snap.readers:
            if entry.token is not None and entry.token.serial == ev.serial:
                token = dataclasses.replace(entry.token, logged_in=ev.logged_in,
                                            locked=ev.locked)
                snap = _replace(snap, entry.name, dataclasses.replace(entry, token=token))
        return snap
    if isinstance(ev, ServiceDown):
        # Readers stay: the monitor keeps what it last reported across an outage, and a
        # token still in after pcscd restarts is not reported again.
        return dataclasses.replace(snap, service_up=False, service_denied=ev.denied)
    if isinstance(ev, ServiceUp):
        return dataclasses.replace(snap, service_up=True, service_denied=False)
    return snap


class TokenModel:
    """See the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = Snapshot()
        self._listeners: list[Listener] = []

    def attach(self, bus: EventBus) -> list[Callable[[], None]]:
        """Follow `bus` (subscribe before anyone else); returns the unsubscribers."""
        return [bus.subscribe(kind, self.apply) for kind in EVENTS]

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(change)` after each event (the thread that applied it: the agent's
        loop); returns unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def apply(self, ev: Event) -> Change:
        """Take one event into the model and tell the listeners."""
        with self._lock:
            before = self._snapshot
            self._snapshot = after = _next(before, ev)
            listeners = list(self._listeners)
        change = Change(ev, before, after)
        for listener in listeners:
            try:
                listener(change)
            except Exception:  # noqa: BLE001 - one bad listener must not stop the others
                log.exception("token model listener %r failed on %s", listener,
                              type(ev).__name__)
        return change
