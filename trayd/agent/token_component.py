"""Agent plug-in "tokens": the agent's one LocalTokenService, fed by PC/SC events.

Why here: the agent's monitor sees a card arrive (`CardInserted`); only PKCS#11 knows
the token's label and serial. This component reads each inserted token on its own
thread (never on the monitor thread, which must stay responsive), posts
`TokenIdentified`, forwards login/lock changes as `TokenStateChanged`, forgets a login
the moment its token leaves, and reminds about expiring certificates once a day per
certificate (EPPCERT's 60-day notice period by default). The composition root hands
`service` to the IPC server, the root prompt and the tray: every front end reaches this
one service (the windows and the CLI through the agent socket).
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import Any

from trayd.agent.notifications import Notify
from trayd.agent.token_model import TokenModel
from trayd.config import Config
from trayd.core.expiry import ExpiryReminder
from trayd.core.models import CertificateInfo
from trayd.core.token_service import LocalTokenService
from trayd.errors import TraydError
from trayd.events import (CardInserted, CardRemoved, CertificatesExpiring, EventBus,
                          ServiceDown, TokenIdentified, TokenStateChanged)
from trayd.i18n import _
from trayd.threads import name_os_thread

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
    """Reads each inserted token on its own one-thread pool and posts what it found."""

    name = "tokens"

    def __init__(self, bus: EventBus, config: Config, notify: Notify, model: TokenModel,
                 service: LocalTokenService | None = None,
                 reminder: ExpiryReminder | None = None) -> None:
        """`model`: the agent's token model (which tokens are in, with their certificates,
        for the daily expiry check)."""
        self.bus = bus
        self.model = model
        self.config = config
        self.notify = notify
        self.service = service or LocalTokenService(config)
        self.reminder = reminder or ExpiryReminder()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="trayd-tokens", initializer=name_os_thread)
        self._unsubscribe: list[Any] = []
        self._stopping = threading.Event()
        self._recheck: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        bus = self.bus
        self._unsubscribe.append(self.service.add_state_listener(self._on_state))
        self._unsubscribe.append(bus.subscribe(CardInserted, self._on_inserted))
        self._unsubscribe.append(bus.subscribe(CardRemoved, self._on_removed))
        self._unsubscribe.append(bus.subscribe(ServiceDown, self._on_service_down))
        self._recheck = threading.Thread(target=self._recheck_loop, name="trayd-expiry",
                                         daemon=True)
        self._recheck.start()

    def stop(self) -> None:
        """Unsubscribe and close the token service on a short-lived thread (bounded wait)."""
        self._stopping.set()
        for unsubscribe in self._unsubscribe:
            try:
                unsubscribe()
            except Exception:  # noqa: BLE001
                pass
        self._pool.shutdown(wait=False, cancel_futures=True)
        # C_Finalize on the worker; don't let a wedged token hold the agent's exit.
        closer = threading.Thread(target=self.service.close, name="trayd-pkcs11-close",
                                  daemon=True)
        closer.start()
        closer.join(0.5)

    # -- events -------------------------------------------------------------------------
    def _submit(self, fn: Any, *args: Any) -> None:
        if self._stopping.is_set():
            return
        try:
            self._pool.submit(self._guard, fn, *args)
        except RuntimeError:  # shut down meanwhile
            pass

    @staticmethod
    def _guard(fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except TraydError as exc:
            log.info("token work %s: %r", getattr(fn, "__name__", fn), exc)
        except Exception:  # noqa: BLE001 - keep the component alive
            log.exception("token work %s failed", getattr(fn, "__name__", fn))

    def _on_inserted(self, ev: CardInserted) -> None:
        self._submit(self.identify, ev.reader, ev.model)

    def _on_removed(self, ev: CardRemoved) -> None:
        self._submit(self.service.reader_removed, ev.reader)

    def _on_service_down(self, ev: ServiceDown) -> None:
        self._submit(self.service.forget_all)

    def _on_state(self, serial: str, logged_in: bool, locked: bool) -> None:
        self.bus.post(TokenStateChanged(serial=serial, logged_in=logged_in, locked=locked))

    # -- work (on the component's thread) -------------------------------------------------
    def identify(self, reader: str, model: str | None = None) -> TokenIdentified | None:
        """Read the token in `reader`; post TokenIdentified; check certificate expiry."""
        found = None
        for attempt in range(IDENTIFY_ATTEMPTS):
            found = self.service.read_reader(reader)
            if found is not None or self._stopping.is_set():
                break
            time.sleep(IDENTIFY_DELAY * (attempt + 1))
        if found is None:
            log.info("no PKCS#11 token in %s (not a token OpenSC knows, or gone)", reader)
            return None
        token, certs = found
        event = TokenIdentified(reader=reader, serial=token.serial, label=token.label,
                                model=model, certificates=tuple(certs),
                                locked=bool(token.locked))
        self.bus.post(event)
        due = self.check_expiry(token.serial, certs)
        # Tests wait for this line: reminders of this insertion are queued by now.
        log.debug("token %s in %s identified; %d reminder(s)", token.serial, reader, len(due))
        return event

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

    def _recheck_loop(self) -> None:
        """Once a day, re-check present tokens for expiring certificates."""
        while not self._stopping.wait(RECHECK_SECONDS):
            serials = sorted({t.serial for _r, t in self.model.snapshot().tokens()})
            for serial in serials:
                self._submit(self.check_expiry, serial)

