"""One-shot PC/SC queries: which readers exist and what is in them.

Why separate from the monitor: `trayd status` and `trayd doctor` need a snapshot without
starting a thread; the monitor shares the same error classification (`is_service_error`, `is_access_denied`).
"""
from __future__ import annotations

import os
import socket
from smartcard import scard

from trayd.core.models import ReaderInfo
from trayd.core.recognition import identify
from trayd.errors import PcscUnavailable

# Errors that mean "pcscd is gone or the context is stale": reconnect, don't crash.
SERVICE_ERRORS = frozenset(
    getattr(scard, name)
    for name in ("SCARD_E_NO_SERVICE", "SCARD_F_COMM_ERROR", "SCARD_E_SERVICE_STOPPED",
                 "SCARD_E_INVALID_HANDLE", "SCARD_E_NO_READERS_AVAILABLE")
    if hasattr(scard, name)
)
NO_READERS = getattr(scard, "SCARD_E_NO_READERS_AVAILABLE", 0x8010002E)
NO_SERVICE = 0x8010001D
# pcsc-lite 2.x built with polkit (Debian 13) answers this when polkit does not allow the
# caller (org.debian.pcsc-lite.access_pcsc / access_card): pcscd runs, but not for us.
SECURITY_VIOLATION = 0x8010006A
POLKIT_ACTIONS = ("org.debian.pcsc-lite.access_pcsc", "org.debian.pcsc-lite.access_card")


def is_access_denied(code: int) -> bool:
    """pcscd refused this client (polkit), as opposed to pcscd being absent."""
    return (code & 0xFFFFFFFF) == SECURITY_VIOLATION


def socket_path() -> str:
    """Where libpcsclite connects (PCSCLITE_CSOCK_NAME overrides the default)."""
    return os.environ.get("PCSCLITE_CSOCK_NAME") or "/run/pcscd/pcscd.comm"


def refused_by_daemon(timeout: float = 0.5) -> bool:
    """pcscd accepted a connection and closed it without a word: its polkit refusal.

    Why: pcsc-lite 2.x closes a refused client's socket; libpcsclite reports that as
    SCARD_W_SECURITY_VIOLATION when the close resets its read, but as SCARD_E_NO_SERVICE
    when it loses the race and its first write fails. An authorized client is left
    waiting (pcscd expects a message first), and no daemon means no connection at all.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(socket_path())
        except OSError:
            return False
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except OSError:  # timeout: pcscd waits for our request, so it accepted us
            return False


def classify(code: int) -> int:
    """`code`, with a NO_SERVICE that is really pcscd refusing us turned into a refusal."""
    if (code & 0xFFFFFFFF) == NO_SERVICE and refused_by_daemon():
        return SECURITY_VIOLATION
    return code


def unavailable(code: int) -> PcscUnavailable:
    """The typed error for a failed PC/SC call: "refused" and "not running" differ."""
    return PcscUnavailable(detail=error_text(code), denied=is_access_denied(code))


def is_service_error(code: int) -> bool:
    return ((code & 0xFFFFFFFF) in {c & 0xFFFFFFFF for c in SERVICE_ERRORS} and (
        code & 0xFFFFFFFF) != (NO_READERS & 0xFFFFFFFF)) or is_access_denied(code)


def error_text(code: int) -> str:
    try:
        return f"{scard.SCardGetErrorMessage(code)} (0x{code & 0xFFFFFFFF:08X})"
    except Exception:  # noqa: BLE001
        return f"0x{code & 0xFFFFFFFF:08X}"


def snapshot() -> list[ReaderInfo]:
    """Readers and cards right now. Raises PcscUnavailable if pcscd does not answer."""
    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rc != scard.SCARD_S_SUCCESS:
        raise unavailable(classify(rc))
    try:
        rc, readers = scard.SCardListReaders(ctx, [])
        if rc == NO_READERS or (rc == scard.SCARD_S_SUCCESS and not readers):
            return []
        if rc != scard.SCARD_S_SUCCESS:
            raise unavailable(rc)
        rc, states = scard.SCardGetStatusChange(
            ctx, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers]
        )
        if rc != scard.SCARD_S_SUCCESS:
            raise unavailable(rc)
        result = []
        for name, state, atr in states:
            present = bool(state & scard.SCARD_STATE_PRESENT)
            atr_bytes = bytes(atr) if present and atr else b""
            result.append(ReaderInfo(
                name=name,
                card_present=present,
                atr=atr_bytes,
                model=identify(atr_bytes, name) if present else None,
            ))
        return result
    finally:
        scard.SCardReleaseContext(ctx)


def reset_card(slot_description: str) -> bool:
    """Reset the card in the reader OpenSC calls `slot_description` (SCardDisconnect with
    SCARD_RESET_CARD on a shared connection); False when it could not be done.

    Why (see `coexistence.hand_back`): every other PKCS#11 process then sees the reset on
    its next transaction and re-authenticates by itself, on every OpenSC version. pcscd
    waits for another process's running transaction before it resets.
    """
    from trayd.core.slot_cache import reader_matches

    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rc != scard.SCARD_S_SUCCESS:
        return False
    try:
        rc, readers = scard.SCardListReaders(ctx, [])
        if rc != scard.SCARD_S_SUCCESS:
            return False
        for reader in readers:
            if not reader_matches(reader, slot_description):
                continue
            rc, handle, _proto = scard.SCardConnect(
                ctx, reader, scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            if rc != scard.SCARD_S_SUCCESS:
                return False
            return scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD) == scard.SCARD_S_SUCCESS
        return False
    finally:
        scard.SCardReleaseContext(ctx)
