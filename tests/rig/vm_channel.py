"""The host end of the guest agent's control channel (virtio-serial, JSON lines).

Requests carry an id and are answered in any order (each runs in its own guest thread),
so a test can start a login in the guest, pull the token meanwhile and then collect the
login's result. Unsolicited guest events (notifications, "ready", child output lines) are
kept in order with the host's arrival time (`host_t`, time.monotonic()) and can be waited
for with a predicate.
"""
from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Callable


def connect_unix(path: str, timeout: float) -> socket.socket:
    """Connect to the Unix socket QEMU creates at `path` once it has started (the guest
    channel and the usbredir chardev both wait for it the same way)."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class GuestError(RuntimeError):
    pass


class GuestChannel:
    def __init__(self, path: str) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self.events: list[dict] = []
        self.listeners: list[Callable[[dict], None]] = []
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._wlock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.closed = False

    def connect(self, timeout: float = 30.0) -> None:
        self.sock = connect_unix(self.path, timeout)
        self._thread = threading.Thread(target=self._read, name="guest-channel", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.sock
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                rec["host_t"] = time.monotonic()
                with self._cond:
                    if "id" in rec and "event" not in rec:
                        self._replies[rec["id"]] = rec
                    else:
                        self.events.append(rec)
                    self._cond.notify_all()
                if "event" in rec:
                    for listener in list(self.listeners):
                        listener(rec)
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def send(self, op: str, **fields: object) -> int:
        rid = next(self._ids)
        data = (json.dumps({"id": rid, "op": op, **fields}) + "\n").encode()
        with self._wlock:
            assert self.sock, "channel not connected"
            self.sock.sendall(data)
        return rid

    def reply(self, rid: int, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise GuestError(f"no guest reply to request {rid} after {timeout}s"
                                     + (" (channel closed)" if self.closed else ""))
                self._cond.wait(left)
            rec = self._replies.pop(rid)
        if not rec.get("ok"):
            raise GuestError(f"guest op failed: {rec.get('error')}\n{rec.get('trace', '')}")
        return rec

    def call(self, op: str, timeout: float = 120.0, **fields: object) -> dict:
        return self.reply(self.send(op, **fields), timeout)

    def wait_event(self, pred: Callable[[list[dict]], object], timeout: float,
                   what: str = "event") -> object:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = pred(list(self.events))
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                         f"last events: {self.events[-6:]}")
                self._cond.wait(left)

    def close(self) -> None:
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        if self._thread:
            self._thread.join(5)
