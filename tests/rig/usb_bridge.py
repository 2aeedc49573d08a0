"""The host bridge: a vpcd server outside, USB CCID tokens plugged into the VM inside.

Any vpcd-protocol client that connects to 127.0.0.1:port (the project's emulator via
`rig.vpcd.VpcdLink`, or vsmartcard's own tools) is a token plugged into the next free USB
port of the guest (one usb-redir chardev each); its disconnect is the token pulled. The
guest therefore sees a USB arrival/removal exactly as with a real ePass2003.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

from rig.ccid_token import CcidToken
from rig.usbredir import UsbRedirPeer

log = logging.getLogger(__name__)


class UsbBridge:
    def __init__(self, port: int, redir_paths: list[str],
                 on_change: Callable[[str, int], None] | None = None) -> None:
        self.port = port
        self.peers = [UsbRedirPeer(p) for p in redir_paths]
        self.tokens: list[CcidToken | None] = [None] * len(self.peers)
        self.on_change = on_change or (lambda what, slot: None)
        self.events: list[tuple[float, str, int]] = []  # (monotonic, "plug"/"pull", slot)
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for peer in self.peers:
            peer.connect()
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(4)
        self._server = srv
        self._thread = threading.Thread(target=self._accept_loop, name="usb-bridge",
                                        daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        assert self._server
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                free = [i for i, t in enumerate(self.tokens) if t is None]
                if not free:
                    log.warning("usb bridge: every USB port is in use; refusing a token")
                    conn.close()
                    continue
                slot = free[0]
                peer = self.peers[slot]
                token = CcidToken(conn, peer.bulk_in_data,
                                  lambda t, s=slot: self._gone(s, t))
                self.tokens[slot] = token
                self.events.append((time.monotonic(), "plug", slot))
            peer.plug(token)
            self.on_change("plug", slot)

    def _gone(self, slot: int, token: CcidToken) -> None:
        with self._lock:
            if self.tokens[slot] is not token:
                return
            self.tokens[slot] = None
            self.events.append((time.monotonic(), "pull", slot))
        self.peers[slot].pull()
        self.on_change("pull", slot)

    def plugged(self) -> int:
        with self._lock:
            return sum(t is not None for t in self.tokens)

    def stop(self) -> None:
        if self._server:
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.close()
            self._server = None
        for token in list(self.tokens):
            if token:
                token.pull()
                token.gone.wait(5)
        for peer in self.peers:
            peer.close()
