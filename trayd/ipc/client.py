"""Front-end side of the agent socket: a `TokenBackend` whose work runs in the agent.

Why: the management window, the dialogs and the CLI must not bind the ePass2003 while the
agent holds it (one secure-messaging session per card). `connect()` returns an
`AgentClient` when an agent answers, else None; `agent_or_local()` is the one choice every
front end makes: the agent, else `LocalTokenService` in-process (`TRAYD_NO_AGENT=1` skips
the agent). Typed errors raised in the agent come back as the same
class with the same fields (`WrongPin(tries_left=…)`), so callers cannot tell the
difference. A PIN passed to `login`/`change_pin` goes into one request line in memory and
nowhere else.
"""
from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trayd import errors, paths
from trayd.config import Config
from trayd.core.backend import TokenBackend
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.events import Event
from trayd.ipc import protocol

log = logging.getLogger(__name__)

# Calls wait this long for the agent: binding an ePass2003 takes over a second, a login a
# few; a minute means the worker is wedged, and the front end should say so.
CALL_TIMEOUT = 60.0


class _LineSocket:
    """A connected Unix socket read line by line (bounded)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = b""

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(protocol.encode(message))

    def read_message(self, timeout: float | None) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        while b"\n" not in self._buf:
            if len(self._buf) > protocol.MAX_LINE:
                raise protocol.ProtocolError("message too long")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the agent closed the connection")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return protocol.decode(line)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _open(path: Path, timeout: float) -> _LineSocket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return _LineSocket(sock)


class AgentClient:
    """`trayd.core.backend.TokenBackend` over the agent socket. Thread-safe (one call at a
    time per client; open more clients for parallel work)."""

    def __init__(self, conn: _LineSocket, path: Path, agent_pid: int | None = None) -> None:
        self._conn = conn
        self._path = path
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.agent_pid = agent_pid
        self._subscriptions: list[_Subscription] = []

    # -- the request/response core ------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None,
             timeout: float | None = CALL_TIMEOUT) -> Any:
        """Send one request and wait for its answer; re-raise the agent's typed error."""
        with self._lock:
            if self._conn is None:
                raise errors.AgentUnavailable(detail="connection closed")
            req_id = next(self._ids)
            try:
                self._conn.send({"id": req_id, "method": method, "params": params or {}})
                while True:
                    reply = self._conn.read_message(timeout)
                    if reply.get("id") == req_id:
                        break
                    log.debug("ipc: ignoring unexpected message %r", reply.get("id"))
            except (OSError, ConnectionError, protocol.ProtocolError) as exc:
                # The stream is out of step or gone: never reuse it.
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
                raise errors.AgentUnavailable(detail=f"{method}: {exc}") from None
        if "error" in reply:
            raise protocol.error_from_wire(reply["error"])
        return protocol.result_from_wire(method, reply.get("result"))

    def ping(self, timeout: float = 1.0) -> dict[str, Any]:
        return self.call("ping", timeout=timeout)

    def readers(self) -> dict[str, Any]:
        """What the agent knows about each reader and its token, from its token model (the
        card is not asked): `{"pcsc": …, "readers": [{…, "token": {…} | None}]}`."""
        return self.call("readers")

    def tokens_and_certificates(self) -> tuple[list[TokenInfo],
                                               dict[str, list[CertificateInfo]]]:
        """The tokens present and their certificates, as the agent's token model has them
        (no card access; `trayd.ui.backend_access.token_listing` is the caller)."""
        return protocol.listing_from_readers(self.readers())

    # -- TokenBackend --------------------------------------------------------------
    def list_tokens(self) -> list[TokenInfo]:
        return self.call("list_tokens")

    def token_info(self, token_serial: str | None = None) -> TokenInfo:
        """Fresh information on one token (the agent's service re-reads it)."""
        return self.call("token_info", {"token_serial": token_serial})

    def list_certificates(self, token_serial: str | None = None) -> list[CertificateInfo]:
        return self.call("list_certificates", {"token_serial": token_serial})

    def certificate_der(self, token_serial: str, cert_id: str) -> bytes:
        return self.call("certificate_der", {"token_serial": token_serial, "cert_id": cert_id})

    def export_certificate(self, token_serial: str, cert_id: str, path: Path,
                           fmt: str = "der", force: bool = False) -> Path:
        # The agent has another working directory: send an absolute path.
        return self.call("export_certificate", {
            "token_serial": token_serial, "cert_id": cert_id,
            "path": os.path.abspath(os.fspath(path)), "fmt": fmt, "force": force,
        })

    def login(self, token_serial: str, pin: str, confirm_last_try: bool = False) -> TokenInfo:
        return self.call("login", {"token_serial": token_serial, "pin": pin,
                                   "confirm_last_try": confirm_last_try})

    def logout(self, token_serial: str) -> None:
        self.call("logout", {"token_serial": token_serial})

    def change_pin(self, token_serial: str, old_pin: str, new_pin: str,
                   confirm_weak: bool = False, confirm_last_try: bool = False) -> None:
        self.call("change_pin", {"token_serial": token_serial, "old_pin": old_pin,
                                 "new_pin": new_pin, "confirm_weak": confirm_weak,
                                 "confirm_last_try": confirm_last_try})

    # -- events ----------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None],
                  on_disconnect: Callable[[], None] | None = None) -> Callable[[], None]:
        """Call `callback(event)` from a reader thread for every agent event (card
        inserted/removed, token identified, login state, pcscd down/up). Uses its own
        connection so requests never wait behind events. Returns `unsubscribe()`.
        `on_disconnect()` runs once if the agent goes away (not after unsubscribe)."""
        conn = _open(self._path, 2.0)
        if conn is None:
            raise errors.AgentUnavailable(detail="subscribe: cannot connect")
        try:
            conn.send({"id": 1, "method": "subscribe", "params": {}})
            reply = conn.read_message(5.0)
        except (OSError, ConnectionError, protocol.ProtocolError) as exc:
            conn.close()
            raise errors.AgentUnavailable(detail=f"subscribe: {exc}") from None
        if "error" in reply:
            conn.close()
            raise protocol.error_from_wire(reply["error"])
        sub = _Subscription(conn, callback, on_disconnect)
        self._subscriptions.append(sub)
        sub.start()
        return sub.stop

    def close(self) -> None:
        for sub in self._subscriptions:
            sub.stop()
        self._subscriptions.clear()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Subscription:
    def __init__(self, conn: _LineSocket, callback: Callable[[Event], None],
                 on_disconnect: Callable[[], None] | None) -> None:
        self.conn = conn
        self.callback = callback
        self.on_disconnect = on_disconnect
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._read, name="ipc-subscription", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _read(self) -> None:
        """Read the events the agent pushes to a subscribed client and hand them to its callback."""
        try:
            while not self._stopped.is_set():
                message = self.conn.read_message(None)
                event = protocol.event_from_wire(message.get("event"))
                if event is None:
                    continue
                try:
                    self.callback(event)
                except Exception:  # noqa: BLE001 - a broken handler must not end the stream
                    log.exception("ipc: event callback failed on %s", type(event).__name__)
        except (OSError, ConnectionError, protocol.ProtocolError):
            pass
        if not self._stopped.is_set() and self.on_disconnect:
            self.on_disconnect()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.conn.close()
        if threading.current_thread() is not self.thread:
            self.thread.join(2)


def connect(timeout: float = 1.0, path: Path | None = None) -> AgentClient | None:
    """An `AgentClient` if an agent answers a ping within `timeout`, else None."""
    path = path or paths.agent_socket()
    if not path.exists():
        return None
    conn = _open(path, timeout)
    if conn is None:
        return None
    client = AgentClient(conn, path)
    try:
        info = client.ping(timeout=timeout)
    except errors.TraydError:
        client.close()
        return None
    client.agent_pid = info.get("pid") if isinstance(info, dict) else None
    return client


def agent_running(timeout: float = 1.0) -> bool:
    """True when an agent answers on this session's socket."""
    client = connect(timeout)
    if client is None:
        return False
    client.close()
    return True


# Set to 1 to bypass a running agent (diagnostics, benchmarks, tests of the local path).
NO_AGENT_ENV = "TRAYD_NO_AGENT"


def agent_or_local(cfg: Config | None = None) -> TokenBackend:
    """The running agent's `AgentClient`, else an in-process `LocalTokenService`.

    Why one function: the CLI, the management window and every dialog must make the same
    choice (a second binding of the card would drop the agent's login), and all of them
    honour `TRAYD_NO_AGENT=1`. The caller closes what it gets. ImportError (no
    python-pkcs11) propagates: the caller says the token service is unavailable.
    """
    if os.environ.get(NO_AGENT_ENV) == "1":
        log.debug("%s=1: not asking the agent", NO_AGENT_ENV)
    else:
        try:
            client = connect()
        except Exception:  # noqa: BLE001 - a broken agent is no agent: work locally
            log.debug("agent not reachable", exc_info=True)
            client = None
        if client is not None:
            log.debug("using the agent's token service (pid %s)", client.agent_pid)
            return client
    from trayd.core.token_service import LocalTokenService

    log.debug("no agent: opening the PKCS#11 module in this process")
    return LocalTokenService(cfg)
