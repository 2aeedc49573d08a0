"""Agent plug-in "tokens": the agent's one LocalTokenService, fed by PC/SC events.

Why here: the agent's monitor sees a card arrive (`CardInserted`); only PKCS#11 knows
the token's label and serial. This component has each inserted token read on the token
service's PKCS#11 worker (never on the monitor thread or the loop, which must stay
responsive); the result comes back to the agent's loop, which posts `TokenIdentified`.
It forwards login/lock changes as `TokenStateChanged`, forgets a login the moment its
token leaves, and reminds about expiring certificates once a day per certificate
(EPPCERT's 60-day notice period by default; a loop timer looks again while a token stays
in). The composition root hands `service` to the IPC server: every front end reaches this
one service (the windows and the CLI through the agent socket).
"""
from __future__ import annotations

import logging
from typing import Any

from trayd.agent.notifications import Notify
from trayd.agent.token_model import TokenModel
from trayd.config import Config
from trayd.core.expiry import ExpiryReminder
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.core.token_service import LocalTokenService
from trayd.errors import TraydError
from trayd.events import (CardInserted, CardRemoved, CertificatesExpiring, EventBus,
                          ServiceDown, TokenIdentified, TokenStateChanged)
from trayd.i18n import _
from trayd.platform.loop import AgentLoop, Handle

log = logging.getLogger(__name__)

# OpenSC may need a moment after PC/SC reports the card before the slot has a token.
IDENTIFY_ATTEMPTS = 4
IDENTIFY_DELAY = 0.25
# While a token stays in, look at its certificates again this often (the reminder itself
# speaks at most once a day per certificate).
RECHECK_SECONDS = 6 * 3600


def expiry_text(cert: CertificateInfo) -> tuple[str, str]:
    """(summary, body) of the reminder for one certificate."""
    name = cert.certificate_id or cert.subject or cert.label
    days = cert.days_left if cert.days_left is not None else 0
    if days < 0:
        return (_("The certificate has expired"),
                _("{name} expired on {date}.").format(name=name, date=(cert.not_after or "")[:10]))
    return (_("The certificate expires soon"),
            _("{name} expires in {days} days ({date}).").format(
                name=name, days=days, date=(cert.not_after or "")[:10]))


class TokenComponent:
    """Reads each inserted token on the token service's worker and posts what it found."""

    name = "tokens"

    def __init__(self, bus: EventBus, config: Config, notify: Notify, model: TokenModel,
                 loop: AgentLoop, service: LocalTokenService | None = None,
                 reminder: ExpiryReminder | None = None) -> None:
        """`model`: the agent's token model (which tokens are in, with their certificates,
        for the daily expiry check); `loop`: the agent's loop, where results come back."""
        self.bus = bus
        self.model = model
        self.config = config
        self.notify = notify
        self.loop = loop
        self.service = service or LocalTokenService(config)
        self.reminder = reminder or ExpiryReminder()
        self._unsubscribe: list[Any] = []
        self._stopping = False
        self._recheck: Handle | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        bus = self.bus
        self._unsubscribe.append(self.service.add_state_listener(self._on_state))
        self._unsubscribe.append(bus.subscribe(CardInserted, self._on_inserted))
        self._unsubscribe.append(bus.subscribe(CardRemoved, self._on_removed))
        self._unsubscribe.append(bus.subscribe(ServiceDown, self._on_service_down))
        self._recheck = self.loop.call_every(RECHECK_SECONDS, self._recheck_present)

    def stop(self) -> None:
        """Unsubscribe and close the token service (C_Finalize; bounded wait)."""
        self._stopping = True
        if self._recheck is not None:
            self._recheck.cancel()
        for unsubscribe in self._unsubscribe:
            try:
                unsubscribe()
            except Exception:  # noqa: BLE001
                pass
        # Don't let a wedged token hold the agent's exit.
        self.service.close(timeout=0.5)

    # -- events (on the loop) -----------------------------------------------------------
    def _later(self, method: Any, *args: Any, then: Any = None) -> None:
        """`method(*args)` on the PKCS#11 worker; `then(result)` back on the loop."""
        if self._stopping:
            return
        try:
            future = self.service.later(method, *args)
        except Exception as exc:  # noqa: BLE001 - closed meanwhile
            log.debug("token work %s not started: %r", method.__name__, exc)
            return
        future.add_done_callback(lambda f: self.loop.call_soon(self._done, method, f, then))

    def _done(self, method: Any, future: Any, then: Any) -> None:
        try:
            result = future.result()
        except TraydError as exc:
            log.info("token work %s: %r", method.__name__, exc)
            return
        except Exception:  # noqa: BLE001 - keep the component alive
            log.exception("token work %s failed", method.__name__)
            return
        if then is not None and not self._stopping:
            then(result)

    def _on_inserted(self, ev: CardInserted) -> None:
        self.identify(ev.reader, ev.model)

    def _on_removed(self, ev: CardRemoved) -> None:
        self._later(self.service.reader_removed, ev.reader)

    def _on_service_down(self, ev: ServiceDown) -> None:
        self._later(self.service.forget_all)

    def _on_state(self, serial: str, logged_in: bool, locked: bool) -> None:
        """The worker saw a login/lock change: an event (the bus hands it to the loop)."""
        self.bus.post(TokenStateChanged(serial=serial, logged_in=logged_in, locked=locked))

    # -- identification --------------------------------------------------------------------
    def identify(self, reader: str, model: str | None = None, attempt: int = 0) -> None:
        """Read the token in `reader` on the worker; then post TokenIdentified and check
        certificate expiry (`_identified`, on the loop). OpenSC may need a moment after
        PC/SC reports the card: a reader without a token yet is read again, later."""
        self._later(self.service.read_reader, reader,
                    then=lambda found: self._identified(reader, model, attempt, found))

    def _identified(self, reader: str, model: str | None, attempt: int,
                    found: tuple[TokenInfo, list[CertificateInfo]] | None) -> None:
        if found is None:
            entry = self.model.snapshot().reader(reader)
            if attempt + 1 < IDENTIFY_ATTEMPTS and entry is not None and entry.card_present:
                self.loop.call_later(IDENTIFY_DELAY * (attempt + 1), self.identify, reader,
                                     model, attempt + 1)
                return
            log.info("no PKCS#11 token in %s (not a token OpenSC knows, or gone)", reader)
            return
        token, certs = found
        self.bus.post(TokenIdentified(reader=reader, serial=token.serial, label=token.label,
                                      model=model, certificates=tuple(certs),
                                      locked=bool(token.locked), info=token))
        due = self.check_expiry(token.serial, certs)
        # Tests wait for this line: reminders of this insertion are queued by now.
        log.debug("token %s in %s identified; %d reminder(s)", token.serial, reader, len(due))

    def check_expiry(self, serial: str,
                     certs: list[CertificateInfo] | None = None) -> list[CertificateInfo]:
        """Remind about certificates expiring within `expiry_warning_days` (once a day each);
        `certs` None: the ones the model has for that token (read at insertion)."""
        days = self.config.expiry_warning_days
        if certs is None:
            found = self.model.snapshot().token(serial)
            certs = list(found[1].certificates) if found is not None else []
        due = self.reminder.due(certs, days)
        if due:
            self.bus.post(CertificatesExpiring(serial=serial, certificates=tuple(
                (c.label, c.certificate_id or c.subject or "", int(c.days_left or 0)) for c in due)))
            for cert in due:
                summary, body = expiry_text(cert)
                self.notify(summary, body, "present")
        return due

    def _recheck_present(self) -> None:
        """Every RECHECK_SECONDS: the present tokens' certificates again (model only)."""
        for serial in sorted({t.serial for _r, t in self.model.snapshot().tokens()}):
            self.check_expiry(serial)
