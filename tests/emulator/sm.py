"""Card side of the ePass2003's SCP01-like secure messaging (AES-128 or 2-key 3DES).

Why its own module: the wrapping rules are exactly what OpenSC's `card-epass2003.c`
(0.23) does on the host side, mirrored here so the real driver accepts our replies;
keeping the crypto apart from the file system makes both easier to check.
See docs/epass2003-card.md ("Secure messaging").
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

try:  # cryptography >= 43 moved 3DES to "decrepit"
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    TripleDES = algorithms.TripleDES  # type: ignore[attr-defined,misc]

AES, DES = "aes", "des"
DEFAULT_KEY = bytes(range(1, 17))  # transport keys ENC = MAC = 01 02 .. 10


class SmError(Exception):
    """A wrapped command the card refuses (answered 6988 so the driver re-authenticates)."""


def _des3(key16: bytes) -> TripleDES:
    """2-key 3DES (K1 K2 K1), spelled as a 24-byte key to avoid deprecation warnings."""
    if len(key16) == 8:
        return TripleDES(key16 * 3)
    return TripleDES(key16[:16] + key16[:8])


def ecb_encrypt(kind: str, key: bytes, data: bytes) -> bytes:
    algo = algorithms.AES(key) if kind == AES else _des3(key)
    enc = Cipher(algo, modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def cbc_encrypt(kind: str, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    algo = algorithms.AES(key) if kind == AES else _des3(key)
    bs = 16 if kind == AES else 8
    enc = Cipher(algo, modes.CBC(iv or bytes(bs))).encryptor()
    return enc.update(data) + enc.finalize()


def cbc_decrypt(kind: str, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    algo = algorithms.AES(key) if kind == AES else _des3(key)
    bs = 16 if kind == AES else 8
    dec = Cipher(algo, modes.CBC(iv or bytes(bs))).decryptor()
    return dec.update(data) + dec.finalize()


def iso_pad(data: bytes, bs: int) -> bytes:
    """ISO 7816-4 / 9797-1 method 2: 80 then zeros to a block boundary (always adds)."""
    data = data + b"\x80"
    return data + bytes((-len(data)) % bs)


def iso_unpad(data: bytes) -> bytes:
    i = data.rstrip(b"\x00")
    if not i or i[-1] != 0x80:
        raise SmError("bad padding")
    return i[:-1]


def retail_mac(key16: bytes, data: bytes, iv: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 (single DES CBC under K1, then D(K2), E(K1))."""
    k1, k2 = key16[:8], key16[8:16]
    last = cbc_encrypt(DES, k1, data, iv)[-8:]
    dec = Cipher(TripleDES(k2 * 3), modes.ECB()).decryptor()
    tmp = dec.update(last) + dec.finalize()
    return ecb_encrypt(DES, k1, tmp)


def tlv_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    if n < 0x100:
        return bytes([0x81, n])
    return bytes([0x82, n >> 8, n & 0xFF])


def parse_tlvs(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, value, raw encoding) for each one-byte-tag BER-TLV in `data`."""
    out = []
    i = 0
    while i < len(data):
        tag = data[i]
        start = i
        i += 1
        if i >= len(data):
            raise SmError("truncated TLV")
        n = data[i]
        i += 1
        if n == 0x81:
            n = data[i]
            i += 1
        elif n == 0x82:
            n = (data[i] << 8) | data[i + 1]
            i += 2
        elif n > 0x82:
            raise SmError("bad TLV length")
        if i + n > len(data):
            raise SmError("truncated TLV value")
        out.append((tag, data[i:i + n], data[start:i + n]))
        i += n
    return out


@dataclass
class SmSession:
    """One secure channel: session keys and the ICV, set up by mutual authentication."""

    kind: str  # AES or DES
    key_enc: bytes = DEFAULT_KEY
    key_mac: bytes = DEFAULT_KEY
    s_enc: bytes = b""
    s_mac: bytes = b""
    icv: bytes = b""
    host_random: bytes = b""
    card_random: bytes = b""
    open: bool = False
    check_mac: bool = True
    firmware_ber: bool = True  # one-byte 87 lengths up to 0xFF, as real tokens send
    _pending_auth: bool = field(default=False, repr=False)

    @property
    def bs(self) -> int:
        return 16 if self.kind == AES else 8

    # --- mutual authentication -------------------------------------------------------
    def initialize_update(self, host_random: bytes) -> bytes:
        """INITIALIZE UPDATE: derive session keys, answer with the 28-byte card data."""
        h = host_random
        c = os.urandom(8)
        self.host_random, self.card_random = h, c
        block = c[4:8] + h[0:4] + c[0:4] + h[4:8]
        self.s_enc = ecb_encrypt(self.kind, self.key_enc, block)
        self.s_mac = ecb_encrypt(self.kind, self.key_mac, block)
        card_cryptogram = cbc_encrypt(self.kind, self.s_enc, iso_pad(h + c, self.bs))[16:24]
        self.open = False
        self._pending_auth = True
        return bytes(10) + b"\x01\x01" + c + card_cryptogram

    def external_authenticate(self, header: bytes, data: bytes) -> bool:
        """EXTERNAL AUTHENTICATE: check host cryptogram and MAC, set the ICV."""
        if not self._pending_auth or len(data) != 16:
            return False
        self._pending_auth = False
        h, c = self.host_random, self.card_random
        host_cryptogram = cbc_encrypt(self.kind, self.s_enc, iso_pad(c + h, self.bs))[16:24]
        if data[:8] != host_cryptogram:
            return False
        mac_in = header[:5] + data[:8] + b"\x80\x00\x00"
        full = cbc_encrypt(self.kind, self.s_mac, mac_in)
        mac = full[8:16] if self.kind == DES else full[0:8]
        if data[8:16] != mac:
            return False
        self.icv = mac + bytes(self.bs - 8)
        self.open = True
        return True

    # --- wrapped commands ---------------------------------------------------------------
    def _inc_icv(self) -> None:
        n = int.from_bytes(self.icv, "big") + 1
        self.icv = (n % (1 << (8 * len(self.icv)))).to_bytes(len(self.icv), "big")

    def _mac(self, data: bytes) -> bytes:
        if self.kind == AES:
            return cbc_encrypt(AES, self.s_mac, data, self.icv)[-16:][:8]
        return retail_mac(self.s_mac, data, self.icv[:8])

    def unwrap(self, cla: int, ins: int, p1: int, p2: int, body: bytes) -> tuple[bytes, int | None]:
        """Check and decrypt a wrapped command body -> (plain data, plain Le or None)."""
        if not self.open:
            raise SmError("no secure channel")
        tlvs = parse_tlvs(body)
        data, le, mac = b"", None, None
        covered = b""
        for tag, value, raw in tlvs:
            if tag == 0x87:
                if not value or value[0] != 0x01:
                    raise SmError("bad padding indicator")
                data = iso_unpad(cbc_decrypt(self.kind, self.s_enc, value[1:]))
                covered += raw
            elif tag == 0x97:
                le = int.from_bytes(value, "big") if value else 0
                covered += raw
            elif tag == 0x8E:
                mac = value
            else:
                raise SmError(f"unexpected SM tag {tag:02X}")
        self._inc_icv()
        if self.check_mac:
            head = bytes([cla, ins, p1, p2, 0x80]).ljust(self.bs, b"\x00")
            mac_in = head + (iso_pad(covered, self.bs) if covered else b"")
            if mac != self._mac(mac_in):
                raise SmError("MAC mismatch")
        return data, le

    def wrap_response(self, data: bytes, sw: bytes) -> bytes:
        """Wrap a response: 87 (encrypted data) 99 (SW) 8E (MAC over both), then the SW.

        Error SWs are wrapped too (99 + 8E, no data): OpenSC 0.24+ rejects an SM response
        without them. Like the real firmware (see OpenSC's "wrong BER-TLV" workaround),
        an 87 length of 0x80..0xFF is written as one byte, not as 81 LL; OpenSC parses both.
        """
        out = b""
        if data:
            enc = b"\x01" + cbc_encrypt(self.kind, self.s_enc, iso_pad(data, self.bs))
            n = len(enc)
            out += b"\x87" + (bytes([n]) if n < 0x100 and self.firmware_ber else tlv_len(n)) + enc
        out += b"\x99\x02" + sw
        mac = self._mac(iso_pad(out, self.bs))
        return out + b"\x8e\x08" + mac + sw
