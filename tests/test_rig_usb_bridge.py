"""The USB bridge without QEMU: this test plays QEMU's usb-redir end on a unix socket.

Fast protocol checks of tests/rig/usb_bridge.py, usbredir.py and ccid_token.py (the real
proof is tests/test_usbvm.py, where the guest's kernel and libccid drive them): a vpcd
client connecting is a USB device_connect with the CCID descriptors, CCID power-on and
XfrBlock reach the card (also when a message spans several bulk transfers), and the
client's disconnect is a device_disconnect.
"""
from __future__ import annotations

import socket
import struct
import threading

from rig.ports import free_port_pair
from rig.usb_bridge import UsbBridge
from rig.usbredir import (BULK, BULK_PACKET, CONTROL, CONTROL_PACKET, DEVICE_CONNECT,
                          DEVICE_DISCONNECT, EP_INFO, HEADER32, HEADER64, HELLO,
                          INTERFACE_INFO, STALL, SUCCESS)
from rig.vpcd import VirtualCard, VpcdLink

ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")


class EchoCard(VirtualCard):
    atr = ATR

    def apdu(self, command: bytes) -> bytes:
        return command[::-1] + b"\x90\x00"


class FakeQemu:
    """The usb-redir "guest" end: hello with 64-bit ids, then packets on demand."""

    def __init__(self, path: str) -> None:
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.conn: socket.socket | None = None
        self.ids = 100

    def accept(self) -> None:
        self.conn, _ = self.srv.accept()
        self.conn.settimeout(10)
        caps = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6)
        self.conn.sendall(HEADER32.pack(HELLO, 68, 0) + b"qemu".ljust(64, b"\0")
                          + struct.pack("<I", caps))
        ptype, body, _ = self.recv(HEADER32)
        assert ptype == HELLO and struct.unpack_from("<I", body, 64)[0] & (1 << 5)

    def recv(self, header: struct.Struct = HEADER64) -> tuple[int, bytes, int]:
        assert self.conn
        head = self._exact(header.size)
        ptype, length, pid = header.unpack(head)
        return ptype, self._exact(length), pid

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            assert chunk, "bridge closed the usb-redir socket"
            buf += chunk
        return buf

    def send(self, ptype: int, body: bytes) -> int:
        self.ids += 1
        self.conn.sendall(HEADER64.pack(ptype, len(body), self.ids) + body)
        return self.ids

    def control_in(self, request: int, value: int, length: int) -> tuple[int, bytes]:
        pid = self.send(CONTROL_PACKET, CONTROL.pack(0x80, request, 0x80, 0, value, 0, length))
        ptype, body, rid = self.recv()
        assert (ptype, rid) == (CONTROL_PACKET, pid)
        return body[3], body[CONTROL.size:]

    def ccid(self, message: bytes, split: int | None = None) -> bytes:
        """Bulk OUT `message` (in two transfers if split), then one bulk IN."""
        parts = [message[:split], message[split:]] if split else [message]
        for part in parts:
            pid = self.send(BULK_PACKET, BULK.pack(0x01, 0, len(part), 0, 0) + part)
            ptype, body, rid = self.recv()
            assert (ptype, rid) == (BULK_PACKET, pid) and body[1] == SUCCESS
        pid = self.send(BULK_PACKET, BULK.pack(0x82, 0, 4096, 0, 0))
        ptype, body, rid = self.recv()
        assert (ptype, rid) == (BULK_PACKET, pid) and body[1] == SUCCESS
        return body[BULK.size:]


def ccid_message(mtype: int, seq: int, data: bytes = b"") -> bytes:
    return struct.pack("<BIBBBBB", mtype, len(data), 0, seq, 0, 0, 0) + data


def test_a_vpcd_client_is_a_usb_ccid_token(tmp_path):
    qemu = FakeQemu(str(tmp_path / "redir0.sock"))
    bridge = UsbBridge(free_port_pair(), [str(tmp_path / "redir0.sock")])
    accepting = threading.Thread(target=qemu.accept)
    accepting.start()
    bridge.start()
    accepting.join(10)
    link = VpcdLink(EchoCard(), bridge.port)
    try:
        link.insert(wait_seen=False)
        kinds = [qemu.recv()[0] for _ in range(3)]
        assert kinds == [INTERFACE_INFO, EP_INFO, DEVICE_CONNECT]
        status, device = qemu.control_in(0x06, 0x0100, 18)
        assert status == SUCCESS and struct.unpack_from("<HH", device, 8) == (0x096E, 0x0807)
        status, config = qemu.control_in(0x06, 0x0200, 255)
        assert status == SUCCESS and len(config) == 86 and config[9 + 5] == 0x0B
        assert qemu.control_in(0x06, 0x0600, 10)[0] == STALL  # no device qualifier
        answer = qemu.ccid(ccid_message(0x62, 1))  # PC_to_RDR_IccPowerOn
        assert answer[0] == 0x80 and answer[6] == 1 and answer[10:] == ATR
        apdu = bytes.fromhex("00A40000023F00") + bytes(100)
        answer = qemu.ccid(ccid_message(0x6F, 2, apdu), split=64)  # XfrBlock in 2 transfers
        assert answer[0] == 0x80 and answer[6] == 2 and answer[10:] == apdu[::-1] + b"\x90\x00"
        assert link.apdu_count == 1
        link.remove()
        assert qemu.recv()[0] == DEVICE_DISCONNECT
        assert bridge.plugged() == 0 and [e[1] for e in bridge.events] == ["plug", "pull"]
    finally:
        link.remove()
        bridge.stop()
        if qemu.conn:
            qemu.conn.close()
        qemu.srv.close()
