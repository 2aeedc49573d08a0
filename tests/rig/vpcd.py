"""The vpcd wire protocol: a virtual card is a TCP client of pcscd's vpcd driver.

Insert = connect, remove = close. Every message is a 2-byte big-endian length and a
payload; a 1-byte payload from vpcd is a control (00 power off, 01 power on, 02 reset,
04 get ATR), anything longer is a command APDU answered with a response APDU.
Subclass `VirtualCard` and implement `apdu()`; `VpcdLink` does the networking.
"""
from __future__ import annotations

import logging
import socket
import struct
import threading
import time

log = logging.getLogger(__name__)

POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4
QUICKACK = getattr(socket, "TCP_QUICKACK", 12)


class VirtualCard:
    """A card: an ATR and an APDU handler. Override `apdu` (and the power hooks)."""

    atr: bytes = bytes.fromhex("3B8080010101")  # a generic, unknown card

    def power_on(self) -> None:
        pass

    def power_off(self) -> None:
        pass

    def reset(self) -> None:
        self.power_off()
        self.power_on()

    def apdu(self, command: bytes) -> bytes:
        return b"\x6d\x00"  # INS not supported


class VpcdLink:
    """Connects a VirtualCard to one vpcd slot at 127.0.0.1:port."""

    def __init__(self, card: VirtualCard, port: int, host: str = "127.0.0.1") -> None:
        self.card = card
        self.host, self.port = host, port
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None
        self.seen = threading.Event()  # set at the first ATR request after power-on
        self.apdu_count = 0
        self._stop = threading.Event()

    @property
    def inserted(self) -> bool:
        return self.sock is not None

    def insert(self, wait_seen: bool = True, timeout: float = 10.0) -> None:
        if self.sock:
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.create_connection((self.host, self.port), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(None)
        self.seen.clear()
        self._stop.clear()
        self.thread = threading.Thread(target=self._serve, name=f"vpcd:{self.port}", daemon=True)
        self.thread.start()
        if wait_seen and not self.seen.wait(timeout):
            raise TimeoutError(f"pcscd did not power the card on port {self.port}")

    def remove(self) -> None:
        sock, self.sock = self.sock, None
        if not sock:
            return
        self._stop.set()
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        if self.thread and self.thread is not threading.current_thread():
            self.thread.join(5)
        self.thread = None

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes | None:
        """Read n bytes, acknowledging every segment at once.

        Why TCP_QUICKACK: vpcd writes the length and the APDU as two segments; with Nagle on
        its side and delayed ACKs on ours each APDU waited ~40 ms (measured 43 ms per APDU);
        acknowledging at once brings that well under 1 ms.
        """
        buf = b""
        while len(buf) < n:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
            except OSError:
                pass
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _send(self, sock: socket.socket, payload: bytes) -> None:
        sock.sendall(struct.pack(">H", len(payload)) + payload)

    def _serve(self) -> None:
        sock = self.sock
        powered = False
        try:
            while sock and not self._stop.is_set():
                head = self._recv_exact(sock, 2)
                if head is None:
                    break
                (length,) = struct.unpack(">H", head)
                payload = self._recv_exact(sock, length) if length else b""
                if payload is None:
                    break
                if len(payload) == 1:
                    ctl = payload[0]
                    if ctl == POWER_OFF:
                        powered = False
                        self.card.power_off()
                    elif ctl == POWER_ON:
                        powered = True
                        self.card.power_on()
                    elif ctl == RESET:
                        powered = True  # a reset leaves the card powered (pcscd may skip POWER_ON)
                        self.card.reset()
                    elif ctl == GET_ATR:
                        self._send(sock, self.card.atr)
                        if powered:
                            self.seen.set()
                    continue
                self.apdu_count += 1
                try:
                    response = self.card.apdu(payload)
                except Exception:  # noqa: BLE001 - a card bug must show, not hang pcscd
                    log.exception("virtual card failed on APDU %s", payload.hex())
                    response = b"\x6f\x00"
                self._send(sock, response)
        except OSError:
            pass

    def __enter__(self) -> "VpcdLink":
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
