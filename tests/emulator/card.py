"""The virtual ePass2003 card: APDU handling behind OpenSC 0.23's `card-epass2003.c`.

Why a card model rather than canned replies: trayd is tested through the real OpenSC
driver and `opensc-pkcs11.so`, which negotiate secure messaging, select files by path,
read in 0xD8-byte chunks, authenticate the PIN by challenge-response and sign with raw
RSA. Each of those is implemented here from the card facts
(docs/epass2003-card.md), so the emulator behaves like a token rather than
like one OpenSC run. Everything the card does is recorded for test assertions.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from rig.vpcd import VirtualCard

from .pkcs15 import DF, EF, fci
from .sm import AES, DES, SmError, SmSession, TripleDES

log = logging.getLogger(__name__)

ATR = bytes.fromhex("3B9F958131FE9F006646530501001171DF0000039000" "80")
SM_MODES = ("aes", "des", "plain")

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_SECURITY = b"\x69\x82"
SW_BLOCKED = b"\x69\x83"
SW_CONDITIONS = b"\x69\x85"
SW_SM_WRONG = b"\x69\x88"
SW_BAD_DATA = b"\x6a\x80"
SW_FUNC = b"\x6a\x81"
SW_NOT_FOUND = b"\x6a\x82"
SW_REF_NOT_FOUND = b"\x6a\x88"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_INS = b"\x6d\x00"
SW_CLA = b"\x6e\x00"


def pin_key(pin: bytes) -> bytes:
    """The 24-byte 3DES key the driver derives from a PIN: SHA1(PIN) || BE32(len)."""
    return hashlib.sha1(pin).digest() + len(pin).to_bytes(4, "big")


def sm_info(mode: str) -> bytes:
    """GET DATA 01 86: the driver reads byte 2 (01 = AES) and bytes 14/16 (84 .. 00 = off)."""
    kind = 0x02 if mode == DES else 0x01
    sm_on = 0x00 if mode == "plain" else 0x01
    return (bytes([0x80, 0x01, kind, 0x81, 0x02, 0x00, 0x00, 0x82, 0x01, 0x00,
                   0x83, 0x02, 0x00, 0x00, 0x84, 0x01, sm_on, 0x85, 0x0D]) + bytes(13)
            + b"\x87\x01\x00")


def encode_body(data: bytes, le: int | None) -> bytes:
    """Lc/data/Le of an APDU, short form where it fits, else extended (for the logs)."""
    if len(data) > 255 or (le is not None and le > 256):
        out = b"\x00" + (len(data).to_bytes(2, "big") + data if data else b"")
        return out + ((le % 65536).to_bytes(2, "big") if le is not None else b"")
    out = bytes([len(data)]) + data if data else b""
    return out + (bytes([le % 256]) if le is not None else b"")


class Apdu:
    """A parsed command APDU (short or extended)."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) < 4:
            raise ValueError("APDU shorter than 4 bytes")
        self.raw = raw
        self.cla, self.ins, self.p1, self.p2 = raw[0], raw[1], raw[2], raw[3]
        self.data = b""
        self.le: int | None = None
        body = raw[4:]
        if not body:
            return
        if len(body) == 1:
            self.le = body[0] or 256
        elif body[0] == 0 and len(body) >= 3:  # extended
            n = (body[1] << 8) | body[2]
            if len(body) == 3:
                self.le = n or 65536
                return
            self.data = body[3:3 + n]
            rest = body[3 + n:]
            if len(self.data) != n or len(rest) not in (0, 2):
                raise ValueError("bad extended APDU length")
            if rest:
                self.le = ((rest[0] << 8) | rest[1]) or 65536
        else:
            n = body[0]
            self.data = body[1:1 + n]
            rest = body[1 + n:]
            if len(self.data) != n or len(rest) > 1:
                raise ValueError("bad short APDU length")
            if rest:
                self.le = rest[0] or 256

    @property
    def header(self) -> bytes:
        return self.raw[:4]


# Status words some tokens give for a wrong PIN (the try still counts), and what OpenSC
# 0.23's epass2003 driver makes of them (measured with pkcs11-tool --login).
WRONG_PIN_AS_GENERAL_ERROR = b"\x6f\x00"  # -> CKR_GENERAL_ERROR
WRONG_PIN_AS_DEVICE_ERROR = b"\x65\x81"   # -> CKR_DEVICE_ERROR


class Epass2003Card(VirtualCard):
    """One token: file system, PIN state, RSA key, secure-messaging session."""

    atr = ATR

    def __init__(self, *, filesystem: DF, key: rsa.RSAPrivateKey, pin: str,
                 max_tries: int = 10, sm: str = "aes", serial: bytes = bytes(8)) -> None:
        if sm not in SM_MODES:
            raise ValueError(f"sm must be one of {SM_MODES}")
        if not 1 <= max_tries <= 15:
            raise ValueError("max_tries must be 1..15 (one nibble on the card)")
        self.mf = filesystem
        self.key = key
        nums = key.private_numbers()
        self._n, self._d = nums.public_numbers.n, nums.d
        self.modulus_bytes = (self._n.bit_length() + 7) // 8
        self.pin_hash = pin_key(pin.encode())
        self.max_tries = max_tries
        self.tries_left = max_tries
        self.sm_mode = sm
        self.serial = serial
        self.lock = threading.RLock()
        self.apdu_log: list[tuple[bytes, bytes]] = []   # on the wire
        self.plain_log: list[tuple[bytes, bytes]] = []  # after unwrapping SM
        # True = drop (no reply), bytes = answer with them unprocessed, False = handle it
        self.before_apdu: Callable[[bytes], bool | bytes] | None = None
        self.signatures = 0
        # Status word for a wrong PIN instead of 63Cx (the try is still counted): tokens
        # that answer so reach the host as CKR_GENERAL_ERROR / CKR_DEVICE_ERROR (OpenSC#871).
        self.wrong_pin_sw: bytes | None = None
        self.pin_checks = 0  # PIN responses the card compared (each one can cost a try)
        self.last_pin_ok: bool | None = None  # outcome of the latest comparison
        self._reset_state()

    # --- state ----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.session: SmSession | None = None
        self.verified = False
        self.challenge: bytes | None = None
        self.cur_df: DF = self.mf
        self.cur_ef: EF | None = None
        self.se_key_ref: int | None = None

    @property
    def locked(self) -> bool:
        return self.tries_left == 0

    def power_on(self) -> None:
        with self.lock:
            self._reset_state()

    def power_off(self) -> None:
        with self.lock:
            self._reset_state()

    # --- dispatch -------------------------------------------------------------------------
    def other_host_authenticates(self) -> None:
        """Another host (a browser's OpenSC) opened its own secure channel: the card has
        one SM session, so everyone else's keys are stale and the PIN state is gone."""
        with self.lock:  # a session not yet opened: wrapped commands get 6988
            self.session = None if self.sm_mode == "plain" else SmSession(self.sm_mode)
            self.verified, self.challenge = False, None

    def apdu(self, command: bytes) -> bytes:
        hook = self.before_apdu(command) if self.before_apdu is not None else False
        if isinstance(hook, bytes):
            with self.lock:  # answered as told, the command is not acted on
                self.apdu_log.append((command, hook))
            return hook
        if hook:
            with self.lock:  # dropped: the token vanished before it could act on it
                self.apdu_log.append((command, b""))
            return b""
        with self.lock:
            try:
                response = self._handle(command)
            except ValueError as e:  # malformed APDU
                log.info("bad APDU %s: %s", command.hex(), e)
                response = SW_WRONG_LENGTH
            self.apdu_log.append((command, response))
            log.debug("> %s\n< %s", command.hex(), response.hex())
            return response

    def _handle(self, raw: bytes) -> bytes:
        cmd = Apdu(raw)
        if cmd.cla == 0x80 and cmd.ins == 0x50:
            return self._initialize_update(cmd)
        if cmd.cla == 0x84 and cmd.ins == 0x82 and cmd.p1 == 0x03:
            return self._external_authenticate(cmd)
        if cmd.cla & 0x0C == 0x0C:
            return self._wrapped(cmd)
        if self.sm_mode != "plain" and cmd.ins in (0x82, 0xE5, 0x2A, 0x22):
            # secrets and key use only inside the secure channel
            if not (cmd.ins == 0x82 and not cmd.data):
                self.plain_log.append((raw, SW_SECURITY))
                return SW_SECURITY
        data, sw = self._plain(cmd, cmd.data, cmd.le)
        self.plain_log.append((raw, data + sw))
        return data + sw

    def _initialize_update(self, cmd: Apdu) -> bytes:
        if self.sm_mode == "plain":
            return SW_INS
        if len(cmd.data) != 8:
            return SW_WRONG_LENGTH
        self.session = SmSession(AES if self.sm_mode == "aes" else DES)
        return self.session.initialize_update(cmd.data) + SW_OK

    def _external_authenticate(self, cmd: Apdu) -> bytes:
        if not self.session:
            return SW_CONDITIONS
        if not self.session.external_authenticate(cmd.raw[:5], cmd.data):
            self.session = None
            return SW_SECURITY
        # A new secure channel ends whatever the previous host had unlocked.
        self.verified = False
        self.challenge = None
        return SW_OK

    def _wrapped(self, cmd: Apdu) -> bytes:
        if not self.session or not self.session.open:
            return SW_SM_WRONG
        try:
            data, le = self.session.unwrap(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data)
        except SmError as e:
            log.info("SM check failed: %s", e)
            self.session = None
            return SW_SM_WRONG
        plain_cla = cmd.cla & ~0x0C
        rdata, sw = self._plain(cmd, data, le or (256 if le == 0 else None), cla=plain_cla)
        plain_raw = bytes([plain_cla, cmd.ins, cmd.p1, cmd.p2]) + encode_body(data, le)
        self.plain_log.append((plain_raw, rdata + sw))
        return self.session.wrap_response(rdata if sw == SW_OK else b"", sw)

    def _plain(self, cmd: Apdu, data: bytes, le: int | None,
               cla: int | None = None) -> tuple[bytes, bytes]:
        cla = cmd.cla if cla is None else cla
        ins = cmd.ins
        if cla not in (0x00, 0x80):
            return b"", SW_CLA
        handler = {
            0xA4: self._select, 0xB0: self._read_binary, 0xCA: self._get_data,
            0x84: self._get_challenge, 0x82: self._external_key_auth,
            0xE5: self._update_key, 0x22: self._mse, 0x2A: self._pso,
        }.get(ins)
        if handler is None:
            return b"", SW_INS
        return handler(cmd.p1, cmd.p2, data, le)

    # --- commands -------------------------------------------------------------------------
    def _select(self, p1: int, p2: int, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        node: EF | DF | None = None
        if p1 == 0x04:
            app = self.mf.files.get(0x5015)
            if isinstance(app, DF) and app.aid == data:
                node = app
        elif p1 == 0x00 and len(data) == 2:
            fid = int.from_bytes(data, "big")
            if fid == 0x3F00:
                node = self.mf
            else:
                node = self.cur_df.files.get(fid)
                if node is None and fid in self.mf.files:
                    node = self.mf.files[fid]
        else:
            return b"", b"\x6a\x86"
        if node is None:
            return b"", SW_NOT_FOUND
        if isinstance(node, DF):
            self.cur_df, self.cur_ef = node, None
        else:
            self.cur_ef = node
        if p2 & 0x0C == 0x0C:
            return b"", SW_OK
        out = fci(node)
        return out[:le] if le else out, SW_OK

    def _read_binary(self, p1: int, p2: int, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        if p1 & 0x80:
            return b"", SW_FUNC  # no SFI reads
        if self.cur_ef is None:
            return b"", b"\x69\x86"
        off = (p1 << 8) | p2
        content = self.cur_ef.data
        if off >= len(content):
            return b"", SW_WRONG_P1P2
        n = le if le else 256
        return content[off:off + n], SW_OK

    def _get_data(self, p1: int, p2: int, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        if p1 != 0x01:
            return b"", SW_REF_NOT_FOUND
        if p2 == 0x86:
            return sm_info(self.sm_mode), SW_OK
        if p2 == 0x80:
            return self.serial, SW_OK
        return b"", SW_REF_NOT_FOUND

    def _get_challenge(self, p1: int, p2: int, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        n = le if le and le <= 16 else 8
        self.challenge = os.urandom(n)
        return self.challenge, SW_OK

    def _tries_sw(self) -> bytes:
        return bytes([0x63, 0xC0 | self.tries_left]) if self.tries_left else SW_BLOCKED

    def _external_key_auth(self, p1: int, p2: int, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        """User PIN check: the host encrypts our challenge under the PIN-derived key."""
        if p1 != 0x01 or p2 & 0x7F != 0x01:
            return b"", SW_REF_NOT_FOUND
        if not data:  # retry-counter query
            return b"", self._tries_sw()
        if len(data) != 8:
            return b"", SW_WRONG_LENGTH
        challenge, self.challenge = self.challenge, None
        if challenge is None:
            return b"", SW_CONDITIONS
        if self.tries_left == 0:
            return b"", SW_BLOCKED
        self.pin_checks += 1
        expected = _des3_cbc(self.pin_hash, challenge[:8])
        self.last_pin_ok = expected == data
        if expected == data:
            self.tries_left = self.max_tries
            self.verified = True
            return b"", SW_OK
        self.verified = False
        self.tries_left -= 1
        if self.wrong_pin_sw and self.tries_left:
            return b"", self.wrong_pin_sw
        return b"", self._tries_sw()

    def _update_key(self, p1: int, p2: int, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        """CHANGE PIN as 0.23 does it: new key = SHA1(new PIN) || BE32(len); needs VERIFY first."""
        if p1 != 0x04 or p2 != 0x01:
            return b"", SW_REF_NOT_FOUND
        if len(data) != 25:
            return b"", SW_WRONG_LENGTH
        if not self.verified:
            return b"", SW_SECURITY
        new_len = int.from_bytes(data[21:25], "big")
        if not 4 <= new_len <= 16:
            return b"", SW_BAD_DATA
        self.pin_hash = data[1:25]
        self.max_tries = data[0] & 0x0F or self.max_tries
        self.tries_left = self.max_tries
        return b"", SW_OK

    def _mse(self, p1: int, p2: int, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        if p1 != 0x41 or p2 not in (0xB8, 0xB6):
            return b"", SW_WRONG_P1P2
        i = data.find(b"\x81\x02")
        if i < 0 or len(data) < i + 4:
            return b"", SW_BAD_DATA
        fid = int.from_bytes(data[i + 2:i + 4], "big")
        if fid & 0xFF00 != 0x2900 or (fid & 0xFF) % 0x20:
            return b"", SW_REF_NOT_FOUND
        ref = (fid & 0xFF) // 0x20
        if ref != 0:
            return b"", SW_REF_NOT_FOUND
        self.se_key_ref = ref
        return b"", SW_OK

    def _pso(self, p1: int, p2: int, data: bytes, le: int | None) -> tuple[bytes, bytes]:
        """Raw RSA with the user key (compute signature / decipher): m^d mod n."""
        if (p1, p2) not in ((0x80, 0x86), (0x9E, 0x9A)):
            return b"", SW_WRONG_P1P2
        if (p1, p2) == (0x9E, 0x9A):
            return b"", SW_FUNC  # no EC key on this token
        if not self.verified:
            return b"", SW_SECURITY
        if self.se_key_ref is None:
            return b"", SW_REF_NOT_FOUND
        if len(data) != self.modulus_bytes:
            log.info("PSO data of %d bytes for a %d-byte key", len(data), self.modulus_bytes)
            return b"", SW_WRONG_LENGTH
        m = int.from_bytes(data, "big")
        if m >= self._n:
            return b"", SW_BAD_DATA
        self.signatures += 1
        return pow(m, self._d, self._n).to_bytes(self.modulus_bytes, "big"), SW_OK


def _des3_cbc(key24: bytes, block: bytes) -> bytes:
    enc = Cipher(TripleDES(key24), modes.CBC(bytes(8))).encryptor()
    return enc.update(block) + enc.finalize()
