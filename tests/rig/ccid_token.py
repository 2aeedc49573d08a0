"""An ePass2003-like USB CCID token whose card is a vpcd client (the bridge's inside).

The token is one USB device, 096E:0807 — the ID libccid's Info.plist names "Feitian
ePass2003" — with one CCID interface (class 0x0B), a bulk OUT and a bulk IN endpoint and
no interrupt endpoint (the card never leaves the token: pulling the token is the only
removal, so libccid's slot-change interrupt has nothing to say). It exchanges whole APDUs
(dwFeatures "extended APDU level", automatic activation/parameters), so libccid sends each
command APDU in one PC_to_RDR_XfrBlock and expects the response APDU in one
RDR_to_PC_DataBlock. Power on/off and APDUs are forwarded to the virtual card over the vpcd
protocol (tests/rig/vpcd.py): any vpcd client — the project's emulator included — is the
card, unchanged.
"""
from __future__ import annotations

import logging
import select
import socket
import struct
import threading
from collections.abc import Callable

from rig.usbredir import UsbDevice
from rig.vpcd import GET_ATR, POWER_OFF, POWER_ON

log = logging.getLogger(__name__)

VENDOR, PRODUCT = 0x096E, 0x0807
MANUFACTURER, PRODUCT_NAME = "FT", "ePass2003"
FEATURES = 0x000400FE  # auto params/activation/voltage/clock/baud/PPS + extended APDU
MAX_MESSAGE = 65546
T1_PARAMETERS = bytes([0x95, 0x10, 0x00, 0x45, 0x00, 0xFE, 0x00])
# PC_to_RDR message types
POWER_ON_MSG, POWER_OFF_MSG, SLOT_STATUS_MSG, XFR_BLOCK = 0x62, 0x63, 0x65, 0x6F
GET_PARAMS, SET_PARAMS, RESET_PARAMS, ESCAPE, ICC_CLOCK, ABORT = 0x6C, 0x61, 0x6D, 0x6B, 0x6E, 0x72
# RDR_to_PC message types
DATA_BLOCK, SLOT_STATUS, PARAMETERS = 0x80, 0x81, 0x82
FAILED = 0x40
TIME_EXTENSION = 0x80
TIME_EXTENSION_AFTER = 1.0  # seconds a card may think before libccid is told to wait more


def _string(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return bytes([2 + len(raw), 3]) + raw


DEVICE_DESCRIPTOR = struct.pack("<BBHBBBBHHHBBBB", 18, 1, 0x0110, 0, 0, 0, 64, VENDOR,
                                PRODUCT, 0x0100, 1, 2, 0, 1)
CCID_CLASS = struct.pack("<BBHBBIIIBIIBIIIIIBBHBB", 54, 0x21, 0x0110, 0, 0x07, 0x03, 4000, 4000,
                         0, 10752, 10752, 0, 254, 0, 0, FEATURES, MAX_MESSAGE, 0xFF, 0xFF,
                         0x0000, 0, 1)
CONFIG_BODY = (bytes([9, 4, 0, 0, 2, 0x0B, 0, 0, 0]) + CCID_CLASS
               + bytes([7, 5, 0x01, 2, 64, 0, 0]) + bytes([7, 5, 0x82, 2, 64, 0, 0]))
CONFIG_DESCRIPTOR = struct.pack("<BBHBBBBB", 9, 2, 9 + len(CONFIG_BODY), 1, 1, 0, 0x80,
                                50) + CONFIG_BODY


class CcidToken(UsbDevice):
    """The CCID side; `card` is the accepted vpcd client socket (the card is "in")."""

    vendor_id, product_id = VENDOR, PRODUCT
    interface_class = 0x0B

    def __init__(self, card: socket.socket, send_in: Callable[[bytes], None],
                 on_gone: Callable[["CcidToken"], None]) -> None:
        self.card = card
        self.send_in = send_in
        self.on_gone = on_gone
        self._out = bytearray()
        self._commands: list[bytes] = []
        self._cond = threading.Condition()
        self._wake_r, self._wake_w = socket.socketpair()
        self.atr = b""
        self.gone = threading.Event()
        self.apdus = 0
        self._thread = threading.Thread(target=self._run, name="ccid-token", daemon=True)
        self._thread.start()

    # -- USB side ---------------------------------------------------------------------
    def descriptor(self, kind: int, index: int) -> bytes | None:
        if kind == 1:
            return DEVICE_DESCRIPTOR
        if kind == 2:
            return CONFIG_DESCRIPTOR
        if kind == 3:
            return {0: bytes([4, 3, 0x09, 0x04]), 1: _string(MANUFACTURER),
                    2: _string(PRODUCT_NAME)}.get(index)
        return None

    def class_request(self, requesttype: int, request: int, value: int, index: int,
                      length: int) -> bytes | None:
        return b"" if request == 0x01 else None  # ABORT ok; no clock/rate lists

    def bulk_out_data(self, data: bytes) -> None:
        """Collect CCID messages (a message may span several bulk transfers)."""
        with self._cond:
            self._out += data
            while len(self._out) >= 10:
                need = 10 + struct.unpack_from("<I", self._out, 1)[0]
                if len(self._out) < need:
                    break
                self._commands.append(bytes(self._out[:need]))
                del self._out[:need]
        self._wake_w.send(b"x")

    # -- card side (vpcd protocol, this token's own thread) --------------------------
    def _vpcd_send(self, payload: bytes) -> None:
        self.card.sendall(struct.pack(">H", len(payload)) + payload)

    def _vpcd_recv(self, seq: int) -> bytes:
        """One reply from the card; tells libccid to wait while the card thinks."""
        buf = b""
        length: int | None = None
        while True:
            ready, _, _ = select.select([self.card], [], [], TIME_EXTENSION_AFTER)
            if not ready:
                self.send_in(bytes([DATA_BLOCK, 0, 0, 0, 0, 0, seq, TIME_EXTENSION, 1, 0]))
                continue
            chunk = self.card.recv(65536)
            if not chunk:
                raise ConnectionError("card left")
            buf += chunk
            if length is None and len(buf) >= 2:
                length = struct.unpack(">H", buf[:2])[0]
            if length is not None and len(buf) >= 2 + length:
                return buf[2:2 + length]

    def _run(self) -> None:
        try:
            while True:
                ready, _, _ = select.select([self.card, self._wake_r], [], [])
                if self.card in ready and not self.card.recv(1, socket.MSG_PEEK):
                    break  # the vpcd client closed: the token is pulled
                if self._wake_r in ready:
                    self._wake_r.recv(4096)
                with self._cond:
                    commands, self._commands = self._commands, []
                for cmd in commands:
                    self.send_in(self._answer(cmd))
        except OSError as exc:
            log.info("ccid token: card link ended (%s)", exc)
        finally:
            self.gone.set()
            self._wake_r.close()
            self._wake_w.close()
            try:
                self.card.close()
            except OSError:
                pass
            self.on_gone(self)

    def _answer(self, cmd: bytes) -> bytes:
        mtype, _length, slot, seq = cmd[0], cmd[1:5], cmd[5], cmd[6]
        data = cmd[10:]

        def reply(rtype: int, status: int = 0, error: int = 0, extra: int = 0,
                  body: bytes = b"") -> bytes:
            return struct.pack("<BIBBBBB", rtype, len(body), slot, seq, status, error,
                               extra) + body

        powered = 0 if self.atr else 1
        if mtype == POWER_ON_MSG:
            self._vpcd_send(bytes([POWER_ON]))
            self._vpcd_send(bytes([GET_ATR]))
            self.atr = self._vpcd_recv(seq)
            return reply(DATA_BLOCK, body=self.atr)
        if mtype == POWER_OFF_MSG:
            self._vpcd_send(bytes([POWER_OFF]))
            self.atr = b""
            return reply(SLOT_STATUS, status=1)
        if mtype == XFR_BLOCK:
            if not self.atr:
                return reply(DATA_BLOCK, status=FAILED | 1, error=0xFE)  # ICC mute
            self._vpcd_send(data)
            self.apdus += 1
            return reply(DATA_BLOCK, body=self._vpcd_recv(seq))
        if mtype in (GET_PARAMS, RESET_PARAMS):
            return reply(PARAMETERS, status=powered, extra=1, body=T1_PARAMETERS)
        if mtype == SET_PARAMS:
            return reply(PARAMETERS, status=powered, extra=cmd[7], body=data)
        if mtype in (SLOT_STATUS_MSG, ICC_CLOCK, ABORT):
            return reply(SLOT_STATUS, status=powered)
        log.info("ccid token: unsupported message 0x%02X", mtype)
        return reply(SLOT_STATUS if mtype != ESCAPE else 0x83, status=FAILED | powered)

    def pull(self) -> None:
        """End the card link from this side (the bridge shutting down)."""
        try:
            self.card.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
