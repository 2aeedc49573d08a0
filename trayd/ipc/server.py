"""Agent component: serve the agent's token service on `trayd.paths.agent_socket()`.

Why: while the agent runs, its one PKCS#11 worker must own the token (the ePass2003's
secure-messaging session is per card; a second process binding it breaks the agent's
login). The management window, the dialogs and the CLI are separate processes, so they
send their token work here. Only the session's own user may connect: the socket is
created 0600 inside the 0700 runtime directory and every peer's uid is checked with
SO_PEERCRED. Each connection gets its own thread; the token service serialises the actual
PKCS#11 calls. Event subscribers get a writer thread and a bounded queue, so a client that
stops reading cannot stall the PC/SC monitor thread that posts events.
"""
from __future__ import annotations

import logging
import os
import queue
import select
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trayd import __version__, errors, paths
from trayd.core.backend import TokenBackend
from trayd.events import Event, EventBus
from trayd.ipc import protocol
from trayd.threads import name_os_thread

log = logging.getLogger(__name__)

ServiceProvider = Callable[[], "TokenBackend | None"]
_UCRED = struct.Struct("3i")  # pid, uid, gid
_QUEUE_LIMIT = 1000


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process on the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return _UCRED.unpack(raw)


class _Connection:
    """One client: reads requests, answers them, and pushes events once subscribed."""

    def __init__(self, server: AgentSocketServer, sock: socket.socket, peer_pid: int) -> None:
        self.server = server
        self.sock = sock
        self.peer_pid = peer_pid
        self._write_lock = threading.Lock()
        self._events: queue.Queue[Event | None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.closed = threading.Event()
        self._finished = False
        self._close_lock = threading.Lock()

    # -- reading and dispatching --------------------------------------------------
    def serve(self) -> None:
        """Read one client's requests, run them on the token service and write the answers."""
        name_os_thread()
        reader = self.sock.makefile("rb")
        try:
            while not self.closed.is_set():
                line = reader.readline(protocol.MAX_LINE + 1)
                if not line:
                    break
                if not line.endswith(b"\n") and len(line) > protocol.MAX_LINE:
                    log.warning("ipc: pid %s sent an over-long line; closing", self.peer_pid)
                    break
                if not line.strip():
                    continue
                self._handle(line)
        except OSError:
            pass
        finally:
            reader.close()
            self.close()

    def _handle(self, line: bytes) -> None:
        try:
            message = protocol.decode(line)
        except protocol.ProtocolError as exc:
            self.send({"id": None, "error": protocol.error_to_wire(
                errors.UsageError(detail=f"bad request: {exc}"))})
            return
        req_id = message.get("id")
        method = message.get("method")
        params = message.get("params") or {}
        if not isinstance(params, dict):
            self.send({"id": req_id, "error": protocol.error_to_wire(
                errors.UsageError(detail="params must be an object"))})
            return
        log.debug("ipc: pid %s -> %s %s", self.peer_pid, method, protocol.redact(params))
        try:
            result = self._dispatch(str(method), params)
        except errors.TraydError as exc:
            self.send({"id": req_id, "error": protocol.error_to_wire(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - a bug must reach the client as an error
            log.exception("ipc: %s failed", method)
            self.send({"id": req_id, "error": protocol.error_to_wire(exc)})
            return
        self.send({"id": req_id, "result": result})

    def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {"protocol": protocol.VERSION, "pid": os.getpid(), "version": __version__}
        if method == "subscribe":
            self._subscribe()
            return True
        if method == "readers":  # the agent's token model: nothing is asked of the card
            if self.server.readers is None:
                raise errors.UsageError(detail="this server has no token model")
            return self.server.readers()
        if method not in protocol.BACKEND_METHODS:
            raise errors.UsageError(detail=f"unknown method {method!r}")
        service = self.server.service()
        if service is None:
            raise errors.Pkcs11ModuleError(detail="the agent's token service is not running")
        if method == "export_certificate" and "path" in params:
            params = dict(params, path=Path(params["path"]))
        try:
            result = getattr(service, method)(**params)
        except TypeError as exc:
            # Wrong parameter names/count: the client's fault, say which.
            if "argument" in str(exc):
                raise errors.UsageError(detail=f"{method}: {exc}") from None
            raise
        return protocol.result_to_wire(method, result)

    # -- events -------------------------------------------------------------------
    def _subscribe(self) -> None:
        if self._events is not None:
            return
        self._events = queue.Queue(_QUEUE_LIMIT)
        threading.Thread(target=self._pump, name=f"ipc-events:{self.peer_pid}",
                         daemon=True).start()
        bus = self.server.bus
        if bus is not None:
            self._unsubscribe = bus.subscribe(Event, self._on_event)

    def _on_event(self, event: Event) -> None:
        """Runs on the agent's loop (the bus dispatches there): never block it."""
        if type(event).__name__ not in protocol.EVENT_TYPES or self._events is None:
            return
        try:
            self._events.put_nowait(event)
        except queue.Full:
            log.warning("ipc: pid %s does not read its events; dropping it", self.peer_pid)
            self.close()

    def _pump(self) -> None:
        """Push the bus events a subscribed client asked for down its socket."""
        name_os_thread()
        assert self._events is not None
        while not self.closed.is_set():
            event = self._events.get()
            if event is None:
                break
            self.send({"event": protocol.event_to_wire(event)})

    # -- writing and closing -------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        data = protocol.encode(message)
        with self._write_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed.set()

    def close(self) -> None:
        with self._close_lock:
            if self._finished:
                return
            self._finished = True
        self.closed.set()
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        if self._events is not None:
            try:
                self._events.put_nowait(None)
            except queue.Full:
                pass
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.server._forget(self)


class AgentSocketServer:
    """The listening socket and its accept thread. Usable without an agent (tests)."""

    def __init__(self, service: ServiceProvider, bus: EventBus | None = None,
                 path: Path | None = None,
                 readers: Callable[[], dict[str, Any]] | None = None) -> None:
        """`readers()`: what the agent knows about each reader (its token model), for the
        `readers` request."""
        self.service = service
        self.bus = bus
        self.readers = readers
        self.path = path or paths.agent_socket()
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._conns: set[_Connection] = set()
        self._lock = threading.Lock()
        self.refused = 0  # peers turned away for a foreign uid (tests, diagnostics)

    def start(self) -> None:
        self._remove_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # created 0600: no window where others could connect
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(16)
        self._sock = sock
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._accept_loop, name="ipc-accept", daemon=True)
        self._thread.start()
        log.info("ipc: listening on %s", self.path)

    def _remove_stale(self) -> None:
        """A socket file left by a crashed agent: remove it if nobody answers on it."""
        if not self.path.exists():
            return
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(0.5)
        try:
            probe.connect(str(self.path))
        except OSError:
            self.path.unlink(missing_ok=True)
            return
        finally:
            probe.close()
        raise errors.AlreadyRunning()

    def _accept_loop(self) -> None:
        """Accept clients on the agent socket, check their uid, and serve each on its own thread."""
        assert self._sock is not None
        while True:
            ready, _w, _x = select.select([self._sock, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            try:
                pid, uid, _gid = peer_credentials(conn)
            except OSError:
                conn.close()
                continue
            if uid != os.getuid():
                self.refused += 1
                log.warning("ipc: refused a connection from uid %d (pid %d)", uid, pid)
                conn.close()
                continue
            c = _Connection(self, conn, pid)
            with self._lock:
                self._conns.add(c)
            threading.Thread(target=c.serve, name=f"ipc-conn:{pid}", daemon=True).start()

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    def stop(self) -> None:
        if self._sock is None:
            return
        os.write(self._wake_w, b"x")
        if self._thread:
            self._thread.join(2)
        self._sock.close()
        self._sock = None
        os.close(self._wake_r)
        os.close(self._wake_w)
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        log.info("ipc: closed %s", self.path)


class IpcComponent:
    """The agent component: serves the agent's token service and forwards its bus."""

    name = "ipc"

    def __init__(self, bus: EventBus, service: TokenBackend | None,
                 readers: Callable[[], dict[str, Any]] | None = None,
                 path: Path | None = None) -> None:
        """`service` None: the token component is missing; requests get a typed error.
        `readers`: the agent's token model as JSON (`Snapshot.to_json`), answered from
        memory."""
        self.bus = bus
        self.service = service
        self.readers = readers
        self.path = path
        self.server: AgentSocketServer | None = None

    def start(self) -> None:
        self.server = AgentSocketServer(lambda: self.service, self.bus, self.path,
                                        readers=self.readers)
        self.server.start()

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None
