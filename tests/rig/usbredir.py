"""The "usb-host" end of QEMU's usb-redir protocol, for one emulated USB device.

Why usbredir and not QEMU's usb-ccid: QEMU's ccid-card-passthru speaks T=0 only and its
VSC_ReaderAdd did not attach the USB device, so a reader never came and went in the
guest. `-device usb-redir,chardev=…` instead attaches whatever USB device the peer on the
chardev describes (`device_connect`) and detaches it on `device_disconnect` — a genuine
hotplug for the guest kernel, udev, libusb and libccid. The protocol (usbredirproto.h,
version 0.7): every packet is a header {u32 type, u32 length, u32 id} (u64 id once both
hellos offered 64-bit ids) and a type-specific packed struct plus data, all
little-endian. This end answers descriptors and control requests, acknowledges bulk OUT
data and completes bulk IN requests when the device has data (`UsbDevice` below).
"""
from __future__ import annotations

import logging
import socket
import struct
import threading
from collections import deque

from rig.vm_channel import connect_unix

log = logging.getLogger(__name__)

HELLO, DEVICE_CONNECT, DEVICE_DISCONNECT, RESET, INTERFACE_INFO, EP_INFO = 0, 1, 2, 3, 4, 5
SET_CONFIGURATION, GET_CONFIGURATION, CONFIGURATION_STATUS = 6, 7, 8
SET_ALT_SETTING, GET_ALT_SETTING, ALT_SETTING_STATUS = 9, 10, 11
START_INTERRUPT, STOP_INTERRUPT, INTERRUPT_STATUS = 15, 16, 17
CANCEL_DATA_PACKET = 21
CONTROL_PACKET, BULK_PACKET = 100, 101
CAP_CONNECT_DEVICE_VERSION, CAP_EP_INFO_MAX_PACKET_SIZE, CAP_64BITS_IDS, CAP_32BITS_BULK = 1, 4, 5, 6
# QEMU's usb-redir refuses an xHCI attach without max packet sizes, 64-bit ids and
# 32-bit bulk lengths ("usb-redir-host lacks capabilities needed for use with XHCI").
CAPS = (1 << CAP_CONNECT_DEVICE_VERSION) | (1 << CAP_EP_INFO_MAX_PACKET_SIZE) \
    | (1 << CAP_64BITS_IDS) | (1 << CAP_32BITS_BULK)
SUCCESS, CANCELLED, INVAL, IOERROR, STALL = 0, 1, 2, 3, 4
TYPE_CONTROL, TYPE_BULK, TYPE_INVALID = 0, 2, 255
SPEED_FULL = 1

HEADER32 = struct.Struct("<III")  # until both hellos are exchanged
HEADER64 = struct.Struct("<IIQ")
CONTROL = struct.Struct("<BBBBHHH")  # endpoint, request, requesttype, status, value, index, length
BULK = struct.Struct("<BBHIH")  # endpoint, status, length, stream_id, length_high


class UsbDevice:
    """What the peer needs from a device: descriptors, identity, bulk endpoints."""

    vendor_id = 0
    product_id = 0
    device_version = 0x0100
    interface_class = 0xFF
    bulk_out = 0x01
    bulk_in = 0x82
    max_packet = 64

    def descriptor(self, kind: int, index: int) -> bytes | None:
        """GET_DESCRIPTOR answer, or None to stall."""
        return None

    def bulk_out_data(self, data: bytes) -> None:
        """Data the guest wrote to the bulk OUT endpoint."""

    def class_request(self, requesttype: int, request: int, value: int, index: int,
                      length: int) -> bytes | None:
        return None


class UsbRedirPeer:
    """One usb-redir chardev (a unix socket QEMU listens on) and the device plugged there."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self.device: UsbDevice | None = None
        self._wlock = threading.Lock()
        self._lock = threading.Lock()
        self._pending_in: deque[tuple[int, int]] = deque()  # (id, length) of bulk IN requests
        self._in_data = bytearray()
        self._thread: threading.Thread | None = None
        self.hello = threading.Event()
        self._header = HEADER32

    # -- connection -------------------------------------------------------------------
    def connect(self, timeout: float = 30.0) -> None:
        self.sock = connect_unix(self.path, timeout)
        self._send(HELLO, 0, b"trayd-usbvm-bridge".ljust(64, b"\0") + struct.pack("<I", CAPS))
        self._thread = threading.Thread(target=self._read_loop, name=f"usbredir:{self.path}",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self._thread:
            self._thread.join(5)

    def _send(self, ptype: int, pid: int, body: bytes) -> None:
        sock = self.sock
        if sock is None:
            return
        with self._wlock:
            try:
                sock.sendall(self._header.pack(ptype, len(body), pid) + body)
            except OSError:
                log.warning("usbredir %s: send failed", self.path)

    # -- plug / pull ------------------------------------------------------------------
    def plug(self, device: UsbDevice) -> None:
        """Describe the device to QEMU: interface, endpoints, then connect (= USB arrival)."""
        with self._lock:
            self.device = device
            self._pending_in.clear()
            self._in_data.clear()
        iface = struct.pack("<I", 1) + bytes([0] * 32) + bytes([device.interface_class] + [0] * 31) \
            + bytes(32) + bytes(32)
        types, sizes = [TYPE_INVALID] * 32, [0] * 32
        for idx in (0, 16):
            types[idx], sizes[idx] = TYPE_CONTROL, device.max_packet
        for ep in (device.bulk_out, device.bulk_in):
            idx = ((ep & 0x80) >> 3) | (ep & 0x0F)
            types[idx], sizes[idx] = TYPE_BULK, device.max_packet
        ep_info = bytes(types) + bytes(32) + bytes(32) + struct.pack("<32H", *sizes)
        self._send(INTERFACE_INFO, 0, iface)
        self._send(EP_INFO, 0, ep_info)
        self._send(DEVICE_CONNECT, 0, struct.pack("<BBBBHHH", SPEED_FULL, 0, 0, 0,
                                                  device.vendor_id, device.product_id,
                                                  device.device_version))

    def pull(self) -> None:
        """device_disconnect: the guest sees the device leave the bus."""
        with self._lock:
            self.device = None
            self._pending_in.clear()
            self._in_data.clear()
        self._send(DEVICE_DISCONNECT, 0, b"")

    def bulk_in_data(self, data: bytes) -> None:
        """Queue data for the bulk IN endpoint (completes pending IN requests)."""
        with self._lock:
            self._in_data += data
            self._complete_in()

    def _complete_in(self) -> None:
        device = self.device
        while device and self._in_data and self._pending_in:
            pid, length = self._pending_in.popleft()
            chunk = bytes(self._in_data[:length])
            del self._in_data[:length]
            self._send(BULK_PACKET, pid, BULK.pack(device.bulk_in, SUCCESS, len(chunk) & 0xFFFF, 0, len(chunk) >> 16) + chunk)

    # -- packets from QEMU ------------------------------------------------------------
    def _recv_exact(self, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            sock = self.sock
            if sock is None:
                return None
            try:
                chunk = sock.recv(n - len(buf))
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def _read_loop(self) -> None:
        while True:
            header = self._header
            head = self._recv_exact(header.size)
            if head is None:
                return
            ptype, length, pid = header.unpack(head)
            body = self._recv_exact(length) if length else b""
            if body is None:
                return
            try:
                self._handle(ptype, pid, body)
            except Exception:  # noqa: BLE001 - a bridge bug must show, not kill the reader
                log.exception("usbredir %s: packet type %d failed", self.path, ptype)

    def _handle(self, ptype: int, pid: int, body: bytes) -> None:
        device = self.device
        if ptype == HELLO:
            peer_caps = struct.unpack_from("<I", body, 64)[0] if len(body) >= 68 else 0
            if peer_caps & (1 << CAP_64BITS_IDS):
                self._header = HEADER64
            self.hello.set()
        elif ptype == CONTROL_PACKET:
            self._control(pid, body, device)
        elif ptype == BULK_PACKET:
            ep, _status, length, _stream, length_high = BULK.unpack_from(body)
            length |= length_high << 16
            data = body[BULK.size:]
            if device is None:
                self._send(BULK_PACKET, pid, BULK.pack(ep, IOERROR, 0, 0, 0))
            elif ep & 0x80:
                with self._lock:
                    self._pending_in.append((pid, length))
                    self._complete_in()
            else:
                self._send(BULK_PACKET, pid, BULK.pack(ep, SUCCESS, len(data) & 0xFFFF, 0, len(data) >> 16))
                device.bulk_out_data(data)
        elif ptype == SET_CONFIGURATION:
            self._send(CONFIGURATION_STATUS, pid, bytes([SUCCESS, body[0]]))
        elif ptype == GET_CONFIGURATION:
            self._send(CONFIGURATION_STATUS, pid, bytes([SUCCESS, 1 if device else 0]))
        elif ptype == SET_ALT_SETTING:
            self._send(ALT_SETTING_STATUS, pid, bytes([SUCCESS, body[0], body[1]]))
        elif ptype == GET_ALT_SETTING:
            self._send(ALT_SETTING_STATUS, pid, bytes([SUCCESS, body[0], 0]))
        elif ptype == START_INTERRUPT:
            self._send(INTERRUPT_STATUS, pid, bytes([STALL, body[0]]))
        elif ptype == CANCEL_DATA_PACKET:
            with self._lock:
                for item in list(self._pending_in):
                    if item[0] == pid:
                        self._pending_in.remove(item)
                        ep = device.bulk_in if device else 0x82
                        self._send(BULK_PACKET, pid, BULK.pack(ep, CANCELLED, 0, 0, 0))
        elif ptype in (RESET, STOP_INTERRUPT):
            pass
        else:
            log.debug("usbredir %s: ignored packet type %d", self.path, ptype)

    def _control(self, pid: int, body: bytes, device: UsbDevice | None) -> None:
        ep, request, rtype, _status, value, index, length = CONTROL.unpack_from(body)
        answer: bytes | None = None
        if device is not None:
            if rtype == 0x80 and request == 0x06:  # GET_DESCRIPTOR
                answer = device.descriptor(value >> 8, value & 0xFF)
            elif rtype & 0x80 and request == 0x00:  # GET_STATUS
                answer = b"\0\0"
            elif rtype & 0x60 == 0x20:  # class request
                answer = device.class_request(rtype, request, value, index, length)
            elif not rtype & 0x80 and request in (0x01, 0x03):  # CLEAR/SET_FEATURE
                answer = b""
        if answer is None:
            self._send(CONTROL_PACKET, pid, CONTROL.pack(ep, request, rtype, STALL, value,
                                                         index, 0))
        elif rtype & 0x80:
            answer = answer[:length]
            self._send(CONTROL_PACKET, pid, CONTROL.pack(ep, request, rtype, SUCCESS, value,
                                                         index, len(answer)) + answer)
        else:
            self._send(CONTROL_PACKET, pid, CONTROL.pack(ep, request, rtype, SUCCESS, value,
                                                         index, length))
