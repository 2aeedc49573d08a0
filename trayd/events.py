"""Typed events and the small bus they travel on.

Why: the PC/SC monitor thread is the only producer of hardware facts; the notifier, the
tray, the token service and the screen locker each subscribe to what they care about and
can be switched off on their own (udiskie's pattern). Handlers run in subscription order
on the thread `dispatch` picks: the agent's bus hands each event to its one loop
(`trayd.platform.loop.AgentLoop.call_soon`), so every handler runs on the loop thread
whoever posted; a bus without `dispatch` (pure-logic tests) calls them on the posting
thread. A handler that raises is logged and the others still run, so one broken feature
cannot silence the rest. Handlers must be quick: slow work (PKCS#11) goes to a worker.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from trayd.core.models import CertificateInfo, TokenInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base class; `at` is time.monotonic() when the fact was observed."""

    at: float = field(default_factory=time.monotonic, compare=False, kw_only=True)


@dataclass(frozen=True)
class ReaderAdded(Event):
    reader: str


@dataclass(frozen=True)
class ReaderRemoved(Event):
    reader: str


@dataclass(frozen=True)
class CardInserted(Event):
    """A card is present in `reader`. `model` is e.g. "ePass2003", or None if unknown."""

    reader: str
    atr: bytes
    model: str | None = None


@dataclass(frozen=True)
class CardRemoved(Event):
    reader: str
    atr: bytes = b""
    model: str | None = None


@dataclass(frozen=True)
class ServiceDown(Event):
    """pcscd stopped answering (or never did); `denied`: it answers but refuses us (polkit)."""

    detail: str = ""
    denied: bool = False


@dataclass(frozen=True)
class ServiceUp(Event):
    pass


E = TypeVar("E", bound=Event)
Handler = Callable[[Event], None]


class EventBus:
    """Publish/subscribe by event class (a subscription to a base class sees subclasses)."""

    def __init__(self, dispatch: Callable[..., None] | None = None) -> None:
        """`dispatch(fn, event)` runs `fn(event)` where handlers belong (the agent's loop);
        None: at once, on the posting thread."""
        self._lock = threading.Lock()
        self._subs: list[tuple[type[Event], Handler]] = []
        self._dispatch = dispatch

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Register `handler` for events of `kind`; returns a function that unsubscribes."""
        entry = (kind, handler)
        with self._lock:
            self._subs.append(entry)  # type: ignore[arg-type]

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subs:
                    self._subs.remove(entry)  # type: ignore[arg-type]

        return unsubscribe

    def post(self, event: Event) -> None:
        """Deliver `event` to its subscribers (any thread; see `dispatch`)."""
        if self._dispatch is not None:
            self._dispatch(self._deliver, event)
        else:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        with self._lock:
            targets = [h for k, h in self._subs if isinstance(event, k)]
        for handler in targets:
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - one bad subscriber must not stop the others
                log.exception("event handler %r failed on %s", handler, type(event).__name__)


@dataclass(frozen=True)
class TokenIdentified(Event):
    """The token service read the token in `reader` over PKCS#11: label, serial, lock state,
    the whole token information (`info`) and its certificates (with their DER), so that
    nobody has to read them again while it stays in (the agent's token model keeps them;
    the tray, the root prompt and the management window use them)."""

    reader: str
    serial: str
    label: str
    model: str | None = None
    certificates: tuple[CertificateInfo, ...] = ()
    locked: bool = False
    info: TokenInfo | None = None


@dataclass(frozen=True)
class TokenStateChanged(Event):
    """Login state or lock state of a token changed (tray icon, management window)."""

    serial: str
    logged_in: bool
    locked: bool = False


@dataclass(frozen=True)
class CertificatesExpiring(Event):
    """Certificates on a token expire within the configured notice period."""

    serial: str
    certificates: tuple[tuple[str, str, int], ...]  # (label, certificate_id or subject, days_left)
