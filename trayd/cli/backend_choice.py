"""The CLI's backend: `trayd.ipc.client.agent_or_local()`, closed when the command ends.

Why: the ePass2003's secure-messaging session belongs to the card, so while the agent
runs, a second process binding the token would drop the agent's login. The CLI then
sends its work to the agent's worker; with no agent (or `TRAYD_NO_AGENT=1`) it loads
OpenSC itself (`LocalTokenService`) and closes everything at exit, so `trayd login`
without an agent only verifies the PIN. The choice itself is the one every front end
shares.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trayd.config import Config
from trayd.core.backend import TokenBackend
from trayd.core.models import TokenInfo
from trayd.errors import NoSuchToken


@contextmanager
def open_backend(cfg: Config) -> Iterator[TokenBackend]:
    """The agent's backend when an agent answers, else a LocalTokenService; closed at exit."""
    from trayd.ipc.client import agent_or_local

    backend = agent_or_local(cfg)
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
