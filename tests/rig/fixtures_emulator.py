"""Fixtures for the virtual ePass2003: the test PKI and a token factory.

Why a factory: tests need tokens with different PINs, retry limits, SM modes, serials,
certificate sets, in one or two readers, inserted now or later. Each call returns an
`emulator.epass2003.Epass2003` handle on the session's private pcscd; every token is
removed at teardown.

    def test_x(epass2003, pcscd_up):
        tok = epass2003()                      # slot 0, PIN 12345678, AES SM, inserted
        tok2 = epass2003(slot=1, sm="plain", insert=False)
        tok2.insert(); tok.pull_on_ins(0x82); tok.remove()

Child processes that use the token (pkcs11-tool, trayd, tstclnt) need `pcscd_up.env`.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from emulator.epass2003 import Epass2003
from emulator.pki import Pki, ensure_pki

OPENSC_PKCS11 = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Root CA, user certificate + key (on the token), TLS server certificate for 127.0.0.1.

    Files: root.pem root.der root.key user.pem user.der user.key server.pem server.key.
    `pki / "root.pem"` gives a Path; `os.fspath(pki)` the directory. Set
    TRAYD_TEST_PKI_DIR to reuse a directory across runs (RSA generation costs seconds).
    """
    cached = os.environ.get("TRAYD_TEST_PKI_DIR")
    return ensure_pki(cached or tmp_path_factory.mktemp("pki"))


@pytest.fixture
def epass2003(pcscd_up, pki: Pki) -> Callable[..., Epass2003]:
    """Factory: epass2003(slot=0, pin="12345678", max_tries=10, sm="aes", serial=None,
    label="EPPCERT", extra_certs=(), garbage_cert=False, insert=True) -> Epass2003."""
    made: list[Epass2003] = []

    def factory(slot: int = 0, pin: str = "12345678", max_tries: int = 10, sm: str = "aes",
                serial: str | None = None, label: str = "EPPCERT",
                extra_certs: Iterable[bytes | tuple[str, bytes]] = (),
                garbage_cert: bool = False, insert: bool = True) -> Epass2003:
        tok = Epass2003(pki=pki, port=pcscd_up.port(slot), slot=slot, pin=pin,
                        max_tries=max_tries, sm=sm, serial=serial, label=label,
                        extra_certs=extra_certs, garbage_cert=garbage_cert)
        made.append(tok)
        if insert:
            tok.insert()
        return tok

    yield factory
    for tok in made:
        tok.remove()
    # Let pcscd see every removal before the next test inserts on the same reader.
    for reader in {tok.reader for tok in made}:
        try:
            wait_card_state(reader, present=False, timeout=5)
        except TimeoutError:
            pass  # the next insert's REINSERT_GAP still separates the two tokens


@pytest.fixture(scope="session")
def openssl_legacy_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """OPENSSL_CONF activating OpenSSL 3's default + legacy providers, for child processes.

    Why: OpenSC 0.23's DES secure messaging uses single DES (EVP_des_cbc), which OpenSSL 3
    only has in the legacy provider; without it pkcs11-tool fails or crashes on a DES token.
    """
    conf = tmp_path_factory.mktemp("openssl") / "openssl-legacy.cnf"
    conf.write_text(
        "openssl_conf = openssl_init\n\n"
        "[openssl_init]\nproviders = provider_sect\n\n"
        "[provider_sect]\ndefault = default_sect\nlegacy = legacy_sect\n\n"
        "[default_sect]\nactivate = 1\n\n[legacy_sect]\nactivate = 1\n"
    )
    return {"OPENSSL_CONF": str(conf)}


def card_present(reader: str) -> bool | None:
    """Whether PC/SC reports a card in `reader` (None if the reader is not there)."""
    from smartcard.scard import (SCARD_S_SUCCESS, SCARD_SCOPE_USER, SCARD_STATE_PRESENT,
                                 SCARD_STATE_UNAWARE, SCardEstablishContext,
                                 SCardGetStatusChange, SCardListReaders,
                                 SCardReleaseContext)
    rv, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
    if rv != SCARD_S_SUCCESS:
        return None
    try:
        rv, readers = SCardListReaders(ctx, [])
        if rv != SCARD_S_SUCCESS or reader not in readers:
            return None
        rv, states = SCardGetStatusChange(ctx, 0, [(reader, SCARD_STATE_UNAWARE)])
        if rv != SCARD_S_SUCCESS:
            return None
        return bool(states[0][1] & SCARD_STATE_PRESENT)
    finally:
        SCardReleaseContext(ctx)


def wait_card_state(reader: str, present: bool, timeout: float = 5.0) -> None:
    """Wait until PC/SC shows the card in `reader` as present / absent (vpcd polls ~400 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if card_present(reader) is present:
            return
        time.sleep(0.05)
    raise TimeoutError(f"card in {reader!r} not {'present' if present else 'absent'} "
                       f"after {timeout}s")


def pkcs11_tool(*args: str, env: dict[str, str], timeout: float = 60):
    """Run `pkcs11-tool --module opensc-pkcs11.so ARGS` (test PINs only on argv)."""
    import subprocess
    return subprocess.run(["pkcs11-tool", "--module", OPENSC_PKCS11, *args], env=env,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


__all__ = ["OPENSC_PKCS11", "card_present", "pkcs11_tool", "wait_card_state"]


@pytest.fixture
def opensc_env(pcscd_up, tmp_path) -> dict[str, str]:
    """Child environment for OpenSC tools: the private pcscd, a throwaway HOME (OpenSC
    writes ~/.cache/opensc) and no OPENSC_CONF from the caller."""
    e = dict(os.environ)
    e.update(pcscd_up.env)
    e["HOME"] = str(tmp_path / "home")
    Path(e["HOME"]).mkdir(exist_ok=True)
    e.pop("OPENSC_CONF", None)
    return e
