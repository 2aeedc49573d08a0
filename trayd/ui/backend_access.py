"""How a UI process hears about insertion, removal and login changes.

Why: the ePass2003's secure-messaging session belongs to the card, so while the agent
runs every window goes through the agent's one PKCS#11 worker (the backend comes from
`trayd.ipc.client.agent_or_local()`, the choice every front end shares) and follows the
agent's events; only without an agent does the UI open the module itself
(`LocalTokenService`), and then it also watches PC/SC itself
(`trayd.core.monitor.PcscMonitor`) to follow the token live.
Neither path imports pyscard or PKCS#11 into UI code directly.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from trayd import errors as E
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.events import CardRemoved, Event, TokenStateChanged
from trayd.messages import describe

log = logging.getLogger(__name__)


def using_agent(backend: Any) -> bool:
    return hasattr(backend, "subscribe")


def token_listing(backend: Any) -> tuple[list[TokenInfo], dict[str, list[CertificateInfo]]]:
    """The tokens present and their certificates.

    With the agent the answer is its token model (`readers`: no APDU; the `TokenInfo`s are
    as read at insertion, with the current login/lock state). Without one, the token
    service reads every token and its certificates now. Raises PcscUnavailable when pcscd
    is down or refuses us, which is not "no token"."""
    if using_agent(backend):
        return backend.tokens_and_certificates()
    tokens = backend.list_tokens()
    if not tokens:
        from trayd.core import pcsc

        pcsc.snapshot()
    certs: dict[str, list[CertificateInfo]] = {}
    for t in tokens:
        try:
            certs[t.serial] = backend.list_certificates(t.serial)
        except E.TraydError as exc:
            log.info("certificates of %s unavailable: %s", t.serial, describe(exc))
            certs[t.serial] = []
    return tokens, certs


def watch(backend: Any, post: Callable[[Event], None],
          on_lost: Callable[[], None] | None = None) -> Callable[[], None]:
    """Call `post(event)` (from another thread) for token insertion, removal and login
    state changes. Returns a function that stops watching."""
    if using_agent(backend):
        return backend.subscribe(post, on_disconnect=on_lost)
    stops: list[Callable[[], None]] = []
    if hasattr(backend, "add_state_listener"):
        stops.append(backend.add_state_listener(
            lambda serial, logged_in, locked=False: post(
                TokenStateChanged(serial=serial, logged_in=logged_in, locked=locked))))
    from trayd.core.monitor import PcscMonitor

    def on_pcsc(event: Event) -> None:
        if isinstance(event, CardRemoved) and hasattr(backend, "reader_removed"):
            # Forget a login at once: the token is gone, its session with it.
            try:
                backend.reader_removed(event.reader)
            except Exception:  # noqa: BLE001 - the refresh that follows shows the truth
                log.debug("reader_removed failed", exc_info=True)
        post(event)

    monitor = PcscMonitor(on_pcsc)
    monitor.start()
    stops.append(monitor.stop)

    def stop() -> None:
        for fn in stops:
            try:
                fn()
            except Exception:  # noqa: BLE001
                log.debug("stop failed", exc_info=True)

    return stop
