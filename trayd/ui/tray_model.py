"""What the tray knows about the readers and tokens, from bus events and the token service.

Why apart from the tray component: this is the tray's copy of "what is in each reader"
(issue 14 wants one token model in the agent; until then this copy lives in one small,
toolkit-free module that tests drive with plain events). Events are recorded on the
posting thread under a lock; `collect()` runs on the tray's refresher thread, may ask the
token service (binding a token can take over a second) and returns a `TrayState`.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from trayd.events import (
    CardInserted,
    CardRemoved,
    Event,
    ServiceDown,
    ServiceUp,
    TokenIdentified,
    TokenStateChanged,
)
from trayd.ui.tray_menu import CertView, TokenView, TrayState

log = logging.getLogger(__name__)


class TrayModel:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cards: dict[str, str | None] = {}  # reader -> model, cards present
        self._identified: dict[str, TokenView] = {}  # serial -> view from events
        self._service_down = False
        self._service_denied = False
        # Ask the token service on the next refresh? Not for a bare CardInserted: the
        # token component is binding that token right now and posts TokenIdentified.
        self._need_service = True
        self._last_tokens: tuple[TokenView, ...] = ()
        # Certificates per token serial: they do not change while the token stays in, and
        # every read goes through the card's secure messaging (a login must not wait).
        self._certs: dict[str, tuple[CertView, ...]] = {}

    def on_event(self, ev: Event) -> None:
        """Record one bus event (any thread, quick)."""
        with self._lock:
            if not isinstance(ev, CardInserted):
                self._need_service = True
            if isinstance(ev, CardInserted):
                self._cards[ev.reader] = ev.model
            elif isinstance(ev, CardRemoved):
                self._cards.pop(ev.reader, None)
                for serial, view in list(self._identified.items()):
                    if view.reader == ev.reader:
                        del self._identified[serial]
                self._certs = {k: v for k, v in self._certs.items()
                               if k in self._identified}
            elif isinstance(ev, TokenIdentified):
                self._identified[ev.serial] = TokenView(ev.serial, ev.label, ev.reader)
                self._certs.pop(ev.serial, None)
                self._cards.setdefault(ev.reader, ev.model)
            elif isinstance(ev, TokenStateChanged):
                view = self._identified.get(ev.serial)
                if view is not None:
                    self._identified[ev.serial] = TokenView(
                        view.serial, view.label, view.reader, ev.logged_in, ev.locked,
                        view.certificates)
            elif isinstance(ev, ServiceDown):
                self._service_down = True
                self._service_denied = ev.denied
                self._cards.clear()
                self._identified.clear()
            elif isinstance(ev, ServiceUp):
                self._service_down = False

    def _certificates(self, service: Any, serial: str) -> tuple[CertView, ...]:
        with self._lock:
            certs = self._certs.get(serial)
        if certs is not None:
            return certs
        try:
            certs = tuple(CertView(c.id, c.label, c.certificate_id)
                          for c in service.list_certificates(serial))
        except Exception as exc:  # noqa: BLE001 - typed errors from the service
            log.info("tray: certificates of %s unavailable: %r", serial, exc)
            return ()
        with self._lock:
            self._certs[serial] = certs
        return certs

    def collect(self, service: Any, *, notifications: bool, root_prompt: bool) -> TrayState:
        """The state to show: the service's answer where needed, merged with the events."""
        with self._lock:
            cards = dict(self._cards)
            identified = dict(self._identified)
            service_down = self._service_down
            service_denied = self._service_denied
            need_service, self._need_service = self._need_service, False
        tokens: list[TokenView] = []
        if not need_service:
            tokens = [t for t in self._last_tokens if t.reader in cards]
        elif service is not None and cards and not service_down:
            try:
                infos = service.list_tokens()
            except Exception as exc:  # noqa: BLE001 - typed errors from the service
                log.info("tray: token list unavailable: %r", exc)
                infos = None
            for info in infos or ():
                tokens.append(TokenView(info.serial, info.label, info.reader,
                                        bool(info.logged_in), bool(info.locked),
                                        self._certificates(service, info.serial)))
        if not tokens:
            tokens = [v for v in identified.values() if v.reader in cards]
        self._last_tokens = tuple(tokens)
        known_readers = {t.reader for t in tokens}
        # Recognised tokens the service has not read yet; an unknown card is not a token.
        pending = tuple(sorted(r for r, model in cards.items()
                               if model and r not in known_readers))
        return TrayState(
            tokens=tuple(sorted(tokens, key=lambda t: (t.reader, t.serial))),
            pending_readers=pending,
            service_down=service_down,
            service_denied=service_denied,
            notifications=notifications,
            root_install_available=bool(tokens) and root_prompt,
        )
