"""Fixture for a second PKCS#11 application on the token (tests/rig/pkcs11_peer.py).

    def test_x(epass2003, pkcs11_peer):
        tok = epass2003()
        peer = pkcs11_peer()              # own process, own OpenSC, token found
        peer.login(tok.pin); peer.sign(b"x")

The peer runs with `opensc_env` (private pcscd, throwaway HOME) plus OpenSSL's legacy
provider (single-DES SM on OpenSC 0.23). Every peer is stopped at teardown.
"""
from __future__ import annotations

from collections.abc import Callable

import pytest

from rig.pkcs11_peer import Pkcs11Peer


@pytest.fixture
def pkcs11_peer(opensc_env, openssl_legacy_env, tmp_path) -> Callable[..., Pkcs11Peer]:
    """Factory: pkcs11_peer(serial=None, module=OPENSC_PKCS11) -> a started Pkcs11Peer."""
    started: list[Pkcs11Peer] = []

    def start(serial: str | None = None, **kwargs) -> Pkcs11Peer:
        env = {**opensc_env, **openssl_legacy_env}
        peer = Pkcs11Peer(env, serial=serial, log_path=tmp_path / f"peer{len(started)}.log",
                          **kwargs)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.close()
