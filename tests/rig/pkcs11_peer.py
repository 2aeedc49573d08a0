#!/usr/bin/env python3
"""A second PKCS#11 application on the token, in its own process: a browser's stand-in.

Why a real process: the ePass2003 has ONE secure-messaging session per card, and each
process that loads `opensc-pkcs11.so` authenticates to the card by itself (a browser's NSS
does, Firefox and Chromium alike). Only a second process with its own OpenSC instance
reproduces what the user meets when trayd and a browser share the token. The peer does
what a browser does: load the module, open a session, log in once, sign now and then.

As a program it reads one JSON command per line on stdin and answers one JSON line:
    {"op": "login", "pin": "..."}   -> {"ok": true}
    {"op": "sign", "data": "<hex>"} -> {"ok": true, "signature": "<hex>"}
    {"op": "logout"} / {"op": "quit"}
A failure answers {"ok": false, "error": "<python-pkcs11 exception name>", "detail": ...}.
The PIN travels on stdin only (never argv or the environment).

In tests use `Pkcs11Peer` (or the `pkcs11_peer` fixture, tests/rig/fixtures_peer.py):
    peer = pkcs11_peer()          # started, module loaded, token found
    peer.login(PIN); sig = peer.sign(b"hello"); peer.verify(sig, b"hello", tok.pki.user_der)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

OPENSC_PKCS11 = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


class PeerError(RuntimeError):
    """The peer's PKCS#11 call failed; `error` is python-pkcs11's exception name."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.error, self.detail = error, detail


class Pkcs11Peer:
    """Handle on one peer process (see the module docstring)."""

    def __init__(self, env: Mapping[str, str], module: str = OPENSC_PKCS11,
                 serial: str | None = None, log_path: Path | None = None) -> None:
        args = [sys.executable, str(Path(__file__).resolve()), "--module", module]
        if serial:
            args += ["--serial", serial]
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(args, env=dict(env), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.ready = self._read()  # {"ok": true, "token": label} once the token is found
        # OpenSC's version as the module reports it, e.g. (0, 23)
        self.library_version: tuple[int, int] = tuple(self.ready.get("library_version", (0, 0)))

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise PeerError("exited", f"peer exited with {self.proc.wait(5)}")
        return json.loads(line)

    def request(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if not answer.get("ok"):
            raise PeerError(answer.get("error", "?"), answer.get("detail", ""))
        return answer

    def login(self, pin: str) -> None:
        self.request(op="login", pin=pin)

    def logout(self) -> None:
        self.request(op="logout")

    def sign(self, data: bytes = b"peer signs this") -> bytes:
        """SHA256-RSA-PKCS signature by the token's private key, made in the peer."""
        return bytes.fromhex(self.request(op="sign", data=data.hex())["signature"])

    @staticmethod
    def verify(signature: bytes, data: bytes, cert_der: bytes) -> None:
        """Raise unless `signature` over `data` verifies with the certificate's key."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        key = x509.load_der_x509_certificate(cert_der).public_key()
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]

    def close(self) -> None:
        from rig.procs import stop_process

        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(self.proc)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream:
                stream.close()
        if self._log is not subprocess.DEVNULL:
            self._log.close()


# --- the peer program ------------------------------------------------------------------

def _serve(module: str, serial: str | None) -> int:
    import pkcs11
    from pkcs11 import Mechanism, ObjectClass

    def say(**answer: Any) -> None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    lib = pkcs11.lib(module)
    tokens = [t for t in lib.get_tokens()
              if serial is None or t.serial.decode().strip().lower() == serial.lower()]
    if not tokens:
        say(ok=False, error="NoToken", detail="no token")
        return 1
    token = tokens[0]
    session = token.open()
    say(ok=True, token=token.label, library_version=list(lib.library_version))
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.get("op")
        try:
            if op == "quit":
                break
            if op == "login":
                pin = cmd.pop("pin")
                session.close()
                session = token.open(user_pin=pin)
                del pin
                say(ok=True)
            elif op == "logout":
                session.close()
                session = token.open()
                say(ok=True)
            elif op == "sign":
                key = session.get_key(object_class=ObjectClass.PRIVATE_KEY)
                sig = key.sign(bytes.fromhex(cmd["data"]), mechanism=Mechanism.SHA256_RSA_PKCS)
                say(ok=True, signature=bytes(sig).hex())
            else:
                say(ok=False, error="UsageError", detail=f"unknown op {op!r}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the peer lives on
            say(ok=False, error=type(exc).__name__, detail=str(exc))
    try:
        session.close()
    except Exception:  # noqa: BLE001
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--module", default=os.environ.get("TRAYD_PEER_MODULE", OPENSC_PKCS11))
    ap.add_argument("--serial", help="token serial to use (default: the first token)")
    args = ap.parse_args(argv)
    return _serve(args.module, args.serial)


if __name__ == "__main__":
    raise SystemExit(main())
