"""Which backend a CLI command talks to: the running agent, else an in-process service.

Why: the ePass2003's secure-messaging session belongs to the card, so while the agent
runs, a second process binding the token would drop the agent's login. The CLI then
sends its work to the agent's worker (`trayd.ipc.client.connect()`); with no agent it
loads OpenSC itself (`LocalTokenService`) and closes everything at exit, so `trayd
login` without an agent only verifies the PIN.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trayd.config import Config
from trayd.core.backend import TokenBackend
from trayd.core.models import TokenInfo
from trayd.errors import NoSuchToken

log = logging.getLogger(__name__)

# Set to 1 to bypass a running agent (diagnostics, benchmarks).
NO_AGENT_ENV = "TRAYD_NO_AGENT"


def _agent_backend() -> Any | None:
    if os.environ.get(NO_AGENT_ENV) == "1":
        return None
    try:
        from trayd.ipc.client import connect
    except ImportError:
        return None
    try:
        return connect()
    except Exception:  # noqa: BLE001 - no agent (or a broken one): work locally
        log.debug("agent not reachable", exc_info=True)
        return None


@contextmanager
def open_backend(cfg: Config) -> Iterator[TokenBackend]:
    """The agent's backend when an agent answers, else a LocalTokenService; closed at exit."""
    backend = _agent_backend()
    if backend is None:
        from trayd.core.token_service import LocalTokenService

        log.debug("no agent answers: using the token locally")
        backend = LocalTokenService(cfg)
    else:
        log.debug("using the agent's token service (pid %s)", getattr(backend, "agent_pid", "?"))
    try:
        yield backend
    finally:
        backend.close()


def is_local(backend: TokenBackend) -> bool:
    from trayd.core.token_service import LocalTokenService

    return isinstance(backend, LocalTokenService)


def check_service() -> None:
    """Raise PcscUnavailable when pcscd is down: "no token" would be the wrong advice."""
    from trayd.core import pcsc

    pcsc.snapshot()


def select_token(backend: TokenBackend, serial: str | None) -> TokenInfo:
    """The token named by `--token`, or the only one present."""
    tokens = backend.list_tokens()
    if not tokens:
        check_service()
    if serial:
        for t in tokens:
            if t.serial.casefold() == serial.strip().casefold():
                return t
        raise NoSuchToken(serial=serial, present=len(tokens))
    if len(tokens) == 1:
        return tokens[0]
    raise NoSuchToken(serial=None, present=len(tokens))
