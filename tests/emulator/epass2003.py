#!/usr/bin/env python3
"""A virtual Feitian ePass2003 on a vpcd reader: importable handle and runnable program.

Why: trayd, its UI and its browser integration are tested through the real pcscd, the
real OpenSC driver and `opensc-pkcs11.so`; this emulator is the token at the bottom of
that stack. Run it by hand against a pcscd with vpcd:

    python tests/emulator/epass2003.py --pin 12345678 --sm aes --pki /tmp/pki

Insert = connect to vpcd (127.0.0.1:35963 + slot), remove = close (Ctrl-C, or --hold).
The test fixture `epass2003` (tests/rig/fixtures_emulator.py) builds on `Epass2003`.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `emulator`, `rig`, `trayd` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from rig.vpcd import VpcdLink  # noqa: E402

from emulator.card import Epass2003Card, pin_key  # noqa: E402
from emulator.pkcs15 import PIN_LABEL, CertObject, build_filesystem  # noqa: E402
from emulator.pki import Pki, default_cache_dir, ensure_pki  # noqa: E402
from trayd.core import opensc_version  # noqa: E402

DEFAULT_PORT = 35963
USER_CERT_LABEL = "User Certificate"
ROOT_CERT_LABEL = "Root CA Certificate"
KEY_LABEL = "Private Key"
GARBAGE_CERT = b"\x30\x82\x01\x00" + b"this is not a certificate " * 9 + b"\x00\x01"

Predicate = Callable[[bytes], bool]
REINSERT_GAP = 1.0  # seconds between a removal and the next insert on one vpcd port
_last_removed: dict[int, float] = {}  # port -> time.monotonic() of the last removal


def opensc_token_label(label: str, pin_label: str = PIN_LABEL) -> str:
    """The PKCS#11 token label the installed OpenSC builds for this card (one PIN slot).

    The rule lives with every other version-dependent fact in trayd/core/opensc_version.py.
    """
    return opensc_version.behaviour().token_label(label, pin_label)


def wire_ins(apdu: bytes) -> int | None:
    """INS of a wire APDU (visible even under secure messaging)."""
    return apdu[1] if len(apdu) >= 4 else None


class Epass2003:
    """One virtual token on one vpcd slot.

    State (PIN, retry counter, certificates) lives in the card and survives remove/insert;
    the secure-messaging session and login do not (a power cycle ends them).
    """

    def __init__(self, *, pki: Pki, port: int = DEFAULT_PORT, host: str = "127.0.0.1",
                 slot: int = 0, pin: str = "12345678", max_tries: int = 10, sm: str = "aes",
                 serial: str | None = None, label: str = "EPPCERT",
                 extra_certs: Iterable[bytes | tuple[str, bytes]] = (),
                 garbage_cert: bool = False) -> None:
        self.pki = pki
        self.port, self.host, self.slot = port, host, slot
        self.reader = f"Virtual PCD 00 {slot:02d}"
        serial_bytes = bytes.fromhex(serial) if serial else bytes.fromhex("2a5e0000c0de00") + bytes([slot])
        self.serial = serial_bytes.hex()  # OpenSC shows TokenInfo.serialNumber as lower hex
        self.token_label_pkcs15 = label
        self.label = opensc_token_label(label)
        self.user_cert_der = pki.user_der
        self.root_cert_der = pki.root_der
        certs = [CertObject(USER_CERT_LABEL, b"\x01", self.user_cert_der),
                 CertObject(ROOT_CERT_LABEL, b"\x02", self.root_cert_der, authority=True)]
        for i, extra in enumerate(extra_certs):
            lab, der = extra if isinstance(extra, tuple) else (f"Extra Certificate {i + 1}", extra)
            certs.append(CertObject(lab, bytes([3 + i]), der))
        if garbage_cert:
            certs.append(CertObject("Broken Certificate", bytes([0x10]), GARBAGE_CERT))
        self.cert_objects = certs
        self.cert_ids = [c.cert_id.hex() for c in certs]
        self.cert_labels = [c.label for c in certs]
        fs = build_filesystem(serial=serial_bytes, label=label, certs=certs,
                              key_label=KEY_LABEL, max_tries=max_tries)
        self.card = Epass2003Card(filesystem=fs, key=pki.user_key, pin=pin,
                                  max_tries=max_tries, sm=sm, serial=serial_bytes)
        self.sm = sm
        self._pin = pin
        self._pull: Predicate | None = None
        self.pulled = threading.Event()  # set when a pull_on predicate fired
        self._steal: Predicate | None = None
        self._answers: list[tuple[Predicate, bytes, list[int]]] = []
        self.card.before_apdu = self._before_apdu
        self.link = VpcdLink(self.card, port, host)

    # --- presence -------------------------------------------------------------------------
    def insert(self, wait_seen: bool = True, timeout: float = 10.0) -> "Epass2003":
        """Connect to vpcd; with wait_seen, return once pcscd has powered the card.

        pcscd polls vpcd every ~400 ms: a token that leaves and another that arrives
        between two polls look like one card that never left (no removal event, and no
        power-on, so `wait_seen` would time out). So a re-insert on the same port waits
        until REINSERT_GAP seconds have passed since the last removal there.
        """
        if self.inserted:
            return self
        gap = _last_removed.get(self.port, 0.0) + REINSERT_GAP - time.monotonic()
        if gap > 0:
            time.sleep(gap)
        self.pulled.clear()
        self.link.insert(wait_seen=wait_seen, timeout=timeout)
        return self

    def remove(self) -> None:
        if self.link.inserted:
            self.link.remove()
            _last_removed[self.port] = time.monotonic()

    @property
    def inserted(self) -> bool:
        return self.link.inserted

    # --- faults ---------------------------------------------------------------------------
    def pull_on(self, predicate: Predicate) -> None:
        """Vanish (socket closed, no reply) at the next wire APDU for which predicate is true.

        The predicate sees the APDU as sent on the wire: under SM the CLA has 0x0C set and
        the data are encrypted, but INS/P1/P2 are plain. One-shot. The card does not act
        on that APDU; it is logged in `apdu_log` with an empty response.
        """
        self._pull = predicate

    def pull_on_ins(self, ins: int) -> None:
        """Vanish at the next APDU with this INS (0x82 PIN verify, 0xE5 PIN change,
        0x2A signature, 0xB0 read binary, 0xA4 select)."""
        self.pull_on(lambda apdu: wire_ins(apdu) == ins)

    def pull_on_read_binary(self, n: int = 1) -> None:
        """Vanish at the n-th READ BINARY from now (1 = the next one)."""
        count = [0]

        def pred(apdu: bytes) -> bool:
            if wire_ins(apdu) == 0xB0:
                count[0] += 1
                return count[0] >= n
            return False
        self.pull_on(pred)

    def other_host_authenticates(self) -> None:
        """Another application authenticates to the card now (see the card's method)."""
        self.card.other_host_authenticates()

    def steal_session_on_ins(self, ins: int, nth: int = 1) -> None:
        """Just before the nth APDU with this INS from now, another host authenticates
        (one-shot): that APDU arrives under stale keys, as when a browser used the token
        in between."""
        seen = [0]

        def pred(apdu: bytes) -> bool:
            if wire_ins(apdu) == ins and not (ins == 0x82 and (len(apdu) < 20 or apdu[2] != 1)):
                seen[0] += 1
                return seen[0] >= nth
            return False
        self._steal = pred

    def answer_ins_with(self, ins: int, sw: bytes, times: int = 1) -> None:
        """Answer the next `times` APDUs with this INS by `sw` (plain, unprocessed)."""
        self._answers.append((lambda apdu: wire_ins(apdu) == ins, sw, [times]))

    @property
    def pin_checks(self) -> int:
        """How many PIN responses the card has compared (each one can cost a try)."""
        return self.card.pin_checks

    def _before_apdu(self, apdu: bytes) -> bool | bytes:
        steal = self._steal
        if steal is not None and steal(apdu):
            self._steal = None
            self.card.other_host_authenticates()
        for pred, sw, left in self._answers:
            if left[0] > 0 and pred(apdu):
                left[0] -= 1
                return sw
        return self._check_pull(apdu)

    def _check_pull(self, apdu: bytes) -> bool:
        pred = self._pull
        if pred is not None and pred(apdu):
            self._pull = None
            self.pulled.set()
            self.link.remove()  # from the serving thread: the reply will never be sent
            _last_removed[self.port] = time.monotonic()
            return True
        return False

    # --- state for assertions -----------------------------------------------------------
    @property
    def apdu_log(self) -> list[tuple[bytes, bytes]]:
        """(command, response) as on the wire (SM-wrapped when SM is on)."""
        return self.card.apdu_log

    def quiet_for(self, seconds: float = 1.0) -> bool:
        """Whether the card saw no APDU during the next `seconds` (a client's own reads
        are over before a test measures what comes after)."""
        n = len(self.apdu_log)
        time.sleep(seconds)
        return len(self.apdu_log) == n

    @property
    def plain_log(self) -> list[tuple[bytes, bytes]]:
        """(command, response) after unwrapping SM: plain INS, data and SW."""
        return self.card.plain_log

    @property
    def tries_left(self) -> int:
        return self.card.tries_left

    @property
    def locked(self) -> bool:
        return self.card.locked

    @property
    def logged_in(self) -> bool:
        """The card's PIN state right now. A new SM session or a reset clears it, and trayd
        resets the card after its own work (coexistence.hand_back): to check that a login
        went through, use `pin_accepted`."""
        return self.card.verified

    @property
    def pin_accepted(self) -> bool:
        """Whether the card's latest PIN check succeeded (False before any check)."""
        return bool(self.card.last_pin_ok)

    def pin_matches(self, pin: str) -> bool:
        return pin_key(pin.encode()) == self.card.pin_hash

    def note_pin(self, pin: str) -> None:
        """Tell the handle a PIN the test set through the stack, so `.pin` can report it."""
        if self.pin_matches(pin):
            self._pin = pin

    @property
    def pin(self) -> str | None:
        """The current PIN if known (initial one, or noted); None after an unknown change."""
        return self._pin if self.pin_matches(self._pin) else None

    def set_pin(self, pin: str) -> None:
        """Reset the PIN and its retry counter, as an issuer would (not through OpenSC)."""
        self.card.pin_hash = pin_key(pin.encode())
        self.card.tries_left = self.card.max_tries
        self._pin = pin

    def __enter__(self) -> "Epass2003":
        return self.insert()

    def __exit__(self, *exc: object) -> None:
        self.remove()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Virtual Feitian ePass2003 on a vpcd reader")
    ap.add_argument("--pin", default="12345678", help="user PIN (test PIN only)")
    ap.add_argument("--max-tries", type=int, default=10, help="wrong PINs before lock")
    ap.add_argument("--sm", choices=("aes", "des", "plain"), default="aes",
                    help="secure messaging the token offers")
    ap.add_argument("--serial", help="8-byte token serial in hex")
    ap.add_argument("--label", default="EPPCERT", help="PKCS#15 token label")
    ap.add_argument("--pki", help="PKI directory (created, or reused if complete)")
    ap.add_argument("--hold", type=float, help="remove the token after this many seconds")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="vpcd port of the reader")
    ap.add_argument("--host", default="127.0.0.1", help="vpcd host (loopback only)")
    ap.add_argument("--slot", type=int, default=0, help="reader slot number (for the name)")
    ap.add_argument("--garbage-cert", action="store_true",
                    help="add an undecodable certificate object")
    ap.add_argument("--extra-cert", action="append", default=[], metavar="DER_OR_PEM",
                    help="add a certificate file as another object (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every APDU")
    args = ap.parse_args(argv)
    if args.verbose:
        import logging
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    if args.serial:
        try:
            if len(bytes.fromhex(args.serial)) != 8:
                raise ValueError
        except ValueError:
            ap.error("--serial must be 16 hex digits (8 bytes)")
    extras = []
    for f in args.extra_cert:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding
        raw = Path(f).read_bytes()
        cert = (x509.load_pem_x509_certificate(raw) if b"-----BEGIN" in raw
                else x509.load_der_x509_certificate(raw))
        extras.append(cert.public_bytes(Encoding.DER))
    pki = ensure_pki(args.pki or default_cache_dir())
    tok = Epass2003(pki=pki, port=args.port, host=args.host, slot=args.slot, pin=args.pin,
                    max_tries=args.max_tries, sm=args.sm, serial=args.serial,
                    label=args.label, extra_certs=extras, garbage_cert=args.garbage_cert)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        tok.insert(wait_seen=False)
    except OSError as e:
        print(f"cannot reach vpcd at {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    print(f"ePass2003 inserted on {args.host}:{args.port} ({tok.reader}): label "
          f"{tok.label!r}, serial {tok.serial}, SM {args.sm}, PKI {pki.dir}", flush=True)
    deadline = time.monotonic() + args.hold if args.hold is not None else None
    while not stop.is_set():
        if deadline is not None and time.monotonic() >= deadline:
            break
        if not tok.inserted:
            break
        stop.wait(0.2)
    tok.remove()
    print("ePass2003 removed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
