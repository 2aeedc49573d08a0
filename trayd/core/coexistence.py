"""Sharing the token with other PKCS#11 applications (a browser) in other processes.

Why this exists: the ePass2003 has ONE secure-messaging (SM) session per card. Every
process that loads OpenSC authenticates to the card by itself; the last one owns the
session keys and the card's PIN state, everyone else holds stale keys. The card refuses
their next wrapped command with a plain 6988 before looking at it. What OpenSC makes of
that (measured on the emulator, see docs/architecture.md "Sharing the token"):

- 0.23: GET CHALLENGE (C_GenerateRandom, and the first command of every C_Login) is sent
  without OpenSC's 6985/6988 re-authentication, so it fails as CKR_DATA_INVALID; other
  commands re-authenticate and are resent by OpenSC itself.
- 0.24+: the response MAC is checked, a plain 6988 fails as CKR_GENERAL_ERROR and the
  handle stays unusable (OpenSC does not re-authenticate).

Neither is fixed by asking again on the same module instance. What fixes it is a new card
handle: C_Finalize + C_Initialize of OpenSC in this process (`reinit`), which runs a new
mutual authentication. That closes every session of this process, so every login trayd
held is dropped and reported (the card's PIN state was already gone with the other
application's session; trayd does not pretend otherwise).

The rules, applied by the token service:
- A non-PIN operation that fails with a "card" kind while the token is present is
  repeated once after `reinit`. A second failure is a broken token (or one that another
  application keeps taking): words and a next step, never a code.
- Before a PIN is sent, `probe` (one GET CHALLENGE) shows whether this process still owns
  the SM session; if not, `reinit` first. So the PIN goes out on a fresh session.
- C_Login answered CKR_DATA_INVALID: on this card that is 6988/6987/6Axx, ISO 7816-4
  checking errors (command refused before processing, nothing changed on the card), on
  GET CHALLENGE or on the VERIFY itself — the PIN was provably not evaluated, so it is
  sent once more after `reinit`. The failure counter is untouched.
- C_Login answered CKR_GENERAL_ERROR/DEVICE_ERROR/FUNCTION_FAILED and a `probe` right
  after fails: the session was taken during the login; the PIN may have reached the card,
  so it is NOT resent and NOT counted; the user is told to try again (`TokenBusy`).

The other direction (`hand_back`, OpenSC 0.24+ only: `opensc_version.Behaviour.
hands_card_back_by_reset`): whatever trayd did, it took the SM session, and on
OpenSC 0.24+ the other application cannot get it back by itself (its handle is dead on
the plain 6988). A card *reset* is the one event every OpenSC version recovers from on
its own: the next transaction sees SCARD_W_RESET_CARD, re-authenticates (4 APDUs) and
re-verifies the PIN it cached. So after each operation that touched a token trayd resets
that card through PC/SC. The PKCS#11 login state of every process survives (measured:
0.23 and 0.26 keep `logged_in`, no re-bind); the card's own PIN state does not, which
also means nothing can sign through trayd's session without OpenSC re-verifying. An idle
trayd sends nothing and resets nothing. On 0.23 no reset is sent: other processes
re-authenticate on the 6988 by themselves, and 0.23's `sc_lock` deadlocks an NSS
application (Firefox, Chromium) that meets a reset (it re-opens SM holding its mutex).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from trayd import errors as E
from trayd.core import ckr

if TYPE_CHECKING:
    from trayd.core.token_service import LocalTokenService, _Slot

log = logging.getLogger(__name__)

# Answers that can mean "another application owns the SM session now".
COLLISION_RVS = frozenset({ckr.DATA_INVALID, ckr.GENERAL_ERROR, ckr.DEVICE_ERROR,
                           ckr.FUNCTION_FAILED})
# C_Login answers that prove the PIN was not evaluated (see the module docstring).
NOT_EVALUATED_RVS = frozenset({ckr.DATA_INVALID})


class PinNotEvaluated(Exception):
    """C_Login was refused before the card looked at the PIN (internal to the service)."""

    def __init__(self, rv: int) -> None:
        super().__init__(ckr.name(rv))
        self.rv = rv


def forget_initialized(lib: Any) -> None:
    """Tell python-pkcs11 (which keeps one `lib` per path) that the module was finalized
    through `RawModule.finalize`: its own C_Finalize now returns at once with
    CKR_CRYPTOKI_NOT_INITIALIZED (no card is touched) and clears its flag."""
    try:
        lib.finalize()
    except Exception:  # noqa: BLE001 - the expected CryptokiNotInitialized
        pass


def reinit(svc: LocalTokenService, why: str) -> None:
    """New OpenSC card handle in this process (C_Finalize + C_Initialize).

    Every session dies with it: held logins are forgotten and reported logged out.
    """
    lib, raw = svc._ensure_lib()
    lost = list(svc._held)
    svc._held.clear()  # the sessions die with C_Finalize: no C_Logout on stale handles
    svc._pslots.clear()
    svc._readers.clear()
    log.info("re-initialising the PKCS#11 module (%s); %d login(s) dropped", why, len(lost))
    try:
        # Through ctypes, not lib.reinitialize(): see RawModule.finalize (the GIL).
        raw.finalize()
        forget_initialized(lib)
        lib.initialize()  # python-pkcs11 calls C_Initialize without the GIL
    except Exception as exc:  # noqa: BLE001
        raise svc._map(exc, None, "reinit") from exc
    svc.reinits += 1
    for serial in lost:
        svc._notify(serial, False, svc.counter.seen_locked(serial))


def hand_back(svc: LocalTokenService) -> None:
    """Reset every card this operation touched, so other applications re-authenticate by
    themselves (see the module docstring). Never raises: this is courtesy, not work."""
    from trayd.core import opensc_version, pcsc

    touched, svc._touched = svc._touched, set()
    if not opensc_version.behaviour().hands_card_back_by_reset:
        return
    for reader in sorted(touched):
        try:
            done = pcsc.reset_card(reader)
        except Exception:  # noqa: BLE001
            done = False
        log.debug("hand back %s: card reset %s", reader, "done" if done else "not possible")
        svc.handbacks += int(done)


def probe(svc: LocalTokenService, session: Any) -> int:
    """C_GenerateRandom on `session`: CKR_OK when this process still owns the SM session."""
    _lib, raw = svc._ensure_lib()
    rv = raw.generate_random(session.handle)
    if rv != ckr.OK:
        log.info("probe (GET CHALLENGE) answered %s", ckr.name(rv))
    return rv


def owns_session(svc: LocalTokenService, slot: _Slot) -> bool:
    """Whether a fresh session on `slot` passes `probe` (opened and closed here)."""
    session = svc._open(slot)
    try:
        return probe(svc, session) == ckr.OK
    finally:
        svc._close_session(session, logged_in=False)


def is_collision(err: E.TraydError) -> bool:
    """A mapped error that may be another application's SM session (worth one `reinit`)."""
    return isinstance(err, E.TokenError) and err.rv in COLLISION_RVS


def busy(serial: str | None, operation: str, pin_may_be_checked: bool = False) -> E.TokenBusy:
    return E.TokenBusy(serial=serial, operation=operation,
                       pin_may_be_checked=pin_may_be_checked)
