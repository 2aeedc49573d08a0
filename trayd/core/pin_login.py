"""The PIN paths of the token service: C_Login and C_SetPIN with every safeguard.

Why hand-made (see `pkcs11_module`): the session is opened without a PIN and `C_Login`
is called on its handle, so a failed login cannot leak a session; the PIN's length is
checked against the token's min/max first (no try wasted); consecutive wrong PINs are
counted per token (OpenSC never reports the ePass2003's tries left) and the try that
could lock the token needs `confirm_last_try=True`. `CKR_GENERAL_ERROR` from a login is
a failure, never a success (OpenSC#871). A PIN is never logged or kept, and sent again
only where the card provably did not evaluate it (`coexistence`).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from trayd import errors as E
from trayd.core import ckr, coexistence, pin_policy

if TYPE_CHECKING:
    from trayd.core.token_service import LocalTokenService, _Slot

log = logging.getLogger(__name__)

CKF_USER_PIN_FINAL_TRY = 0x00020000
CKF_USER_PIN_LOCKED = 0x00040000
REMOVED_RVS = frozenset(rv for rv, (_n, kind) in ckr.CKR.items() if kind == "removed") | {
    ckr.TOKEN_NOT_RECOGNIZED}
# Vague login answers. On the ePass2003 a wrong PIN is 63Cx (x >= 1) = CKR_PIN_INCORRECT;
# 63C0 (the try that locked it) surfaces as one of these, but so does a VERIFY that OpenSC
# resent itself after 6988 and the card refused (6985, no PIN check). So they count as a
# wrong PIN only on the confirmed last try (then the token is locked); otherwise the user
# is told the outcome is unclear and the PIN is not sent again, but the failure counts
# towards the last-try question (a token may answer every wrong PIN so, OpenSC#871).
VAGUE_LOGIN_RVS = frozenset({ckr.GENERAL_ERROR, ckr.DEVICE_ERROR, ckr.FUNCTION_FAILED})
PIN_ANSWERS = frozenset({ckr.PIN_INCORRECT, ckr.PIN_LOCKED, ckr.PIN_LEN_RANGE, ckr.PIN_INVALID})


def tries_left(flags: int) -> int | None:
    return 0 if flags & CKF_USER_PIN_LOCKED else 1 if flags & CKF_USER_PIN_FINAL_TRY else None


def precheck(svc: LocalTokenService, slot: _Slot, pin: str, confirm_last_try: bool) -> None:
    """Everything decided before the card sees anything: length, last-try confirmation."""
    pin_policy.check_length(pin, slot.info.pin_min, slot.info.pin_max)
    if not confirm_last_try and svc.counter.needs_last_try_confirmation(slot.info.serial,
                                                                        svc.max_tries):
        raise E.ConfirmationRequired(reason="last_try")


def login_session(svc: LocalTokenService, slot: _Slot, pin: str, confirm_last_try: bool,
                  operation: str, rw: bool = False) -> tuple[_Slot, Any]:
    """A new session on the token, logged in: (the slot as now found, the session).

    Recovers once from another application's SM session (see `coexistence`): before the
    PIN goes out when the probe fails, after it only when the card provably did not
    evaluate it. The caller owns (and closes) the returned session.
    """
    serial = slot.info.serial
    precheck(svc, slot, pin, confirm_last_try)
    for attempt in (1, 2):
        session = svc._open(slot, rw=rw)
        try:
            rv = coexistence.probe(svc, session)
            if rv in REMOVED_RVS:
                raise E.TokenRemoved(serial=serial, operation=operation)
            if rv in coexistence.COLLISION_RVS:
                raise coexistence.PinNotEvaluated(rv)  # nothing was sent yet
            login_on(svc, slot, session, pin, operation)
            return slot, session
        except coexistence.PinNotEvaluated as why:
            svc._close_session(session, logged_in=False)
            if attempt == 2:
                raise coexistence.busy(serial, operation) from None
            coexistence.reinit(svc, f"{operation}: {ckr.name(why.rv)} before the PIN check")
            try:
                slot = svc._find(serial)
            except E.NoSuchToken:
                raise E.TokenRemoved(serial=serial, operation=operation) from None
        except BaseException:
            svc._close_session(session, logged_in=False)
            raise
    raise AssertionError("unreachable")


def login_on(svc: LocalTokenService, slot: _Slot, session: Any, pin: str,
             operation: str) -> None:
    """C_Login on an open session; raises a typed error (or PinNotEvaluated) on failure."""
    serial = slot.info.serial
    _lib, raw = svc._ensure_lib()
    buf = bytearray(pin.encode("utf-8"))
    try:
        rv = raw.login(session.handle, buf)
    finally:
        for i in range(len(buf)):
            buf[i] = 0
    if rv == ckr.OK:
        svc.counter.record_success(serial)
        return
    log.info("login on token %s failed: %s", serial, ckr.name(rv))
    if rv in coexistence.NOT_EVALUATED_RVS:
        raise coexistence.PinNotEvaluated(rv)
    # A vague answer may mean the token was pulled mid-command; PC/SC can take a
    # moment to notice (vpcd polls every 400 ms), so wait for presence to settle
    # before counting it as a wrong PIN.
    if rv in REMOVED_RVS or (rv not in PIN_ANSWERS and svc._gone(slot)):
        raise E.TokenRemoved(serial=serial, operation=operation)
    if rv == ckr.PIN_LOCKED:
        svc.counter.record_locked(serial)
        svc._notify(serial, False, True)
        raise E.PinLocked(serial=serial)
    if rv in coexistence.COLLISION_RVS and not coexistence.owns_session(svc, slot):
        # Taken during the login: the PIN may have reached the card. Neither resent
        # nor counted; the user decides (TokenBusy says so). A fresh handle for the
        # next try (0.24+ stops SM on a handle that saw a plain 6988).
        coexistence.reinit(svc, f"{operation}: {ckr.name(rv)}, session taken")
        raise coexistence.busy(serial, operation, pin_may_be_checked=True)
    if rv in VAGUE_LOGIN_RVS and svc.counter.needs_last_try_confirmation(serial,
                                                                         svc.max_tries):
        svc.counter.record_failure(serial)
        svc.counter.record_locked(serial)
        svc._notify(serial, False, True)
        raise E.PinLocked(serial=serial)
    if rv == ckr.PIN_INCORRECT:
        seen = svc.counter.record_failure(serial)
        raise E.WrongPin(tries_left=tries_left(svc._find(serial).info.flags),
                         failures_seen=seen, max_tries=svc.max_tries)
    if rv in VAGUE_LOGIN_RVS:
        # Not provably unevaluated (0.24+ answers a plain 6988 this way too): not resent,
        # but counted towards the last-try question: a token that answers every wrong PIN
        # so (OpenSC#871) must still get it; at worst it comes one try early. A fresh
        # module handle so the user's next try does not meet a stopped SM.
        svc.counter.record_failure(serial)
        coexistence.reinit(svc, f"{operation}: {ckr.name(rv)}")
        raise E.TokenError(code=ckr.name(rv), detail=operation, rv=rv, kind="login_unclear",
                           operation=operation)
    if rv == ckr.PIN_LEN_RANGE:
        n = len(pin.encode("utf-8"))
        too_long = slot.info.pin_max is not None and n > slot.info.pin_max
        raise E.PinPolicyError(reason="too_long" if too_long else "too_short",
                               minimum=slot.info.pin_min, maximum=slot.info.pin_max)
    if rv == ckr.PIN_INVALID:
        raise E.PinPolicyError(reason="invalid", minimum=slot.info.pin_min,
                               maximum=slot.info.pin_max)
    raise E.TokenError(code=ckr.name(rv), detail=operation, rv=rv, kind=ckr.kind(rv),
                       operation=operation)


def change_pin(svc: LocalTokenService, slot: _Slot, old_pin: str, new_pin: str,
               confirm_weak: bool, confirm_last_try: bool) -> None:
    """Verify the current PIN on a fresh session, then C_SetPIN (worker thread)."""
    import pkcs11.exceptions as X

    serial = slot.info.serial
    lo, hi = slot.info.pin_min, slot.info.pin_max
    pin_policy.check_length(old_pin, lo, hi)
    pin_policy.check_length(new_pin, lo, hi)
    if new_pin == old_pin:
        raise E.PinPolicyError(reason="same_as_current", minimum=lo, maximum=hi)
    if pin_policy.strength(new_pin, old_pin) == pin_policy.Strength.LOW and not confirm_weak:
        raise E.ConfirmationRequired(reason="weak_pin")
    # Verify the current PIN even when we hold a login: OpenSC 0.23's ePass2003 driver
    # does not check the old PIN in C_SetPIN itself (0.24+ does; a wrong PIN still costs
    # one try, C_SetPIN is not sent after a failed verify). See core/opensc_version.py.
    was_logged_in = serial in svc._held
    svc._drop_held(serial, notify=False)
    session = None
    try:
        slot, session = login_session(svc, slot, old_pin, confirm_last_try, "change_pin",
                                      rw=True)
        try:
            session.set_pin(old_pin, new_pin)
        except X.PinIncorrect as exc:
            seen = svc.counter.record_failure(serial)
            raise E.WrongPin(failures_seen=seen, max_tries=svc.max_tries) from exc
        except X.PinLenRange as exc:
            raise E.PinPolicyError(reason="too_long" if hi and len(new_pin) > hi
                                   else "too_short", minimum=lo, maximum=hi) from exc
        except Exception as exc:  # noqa: BLE001
            mapped = svc._map(exc, serial, "change_pin")
            if not isinstance(mapped, E.TokenRemoved) and svc._gone(slot):
                mapped = E.TokenRemoved(serial=serial, operation="change_pin")
            elif isinstance(exc, X.UserNotLoggedIn) or coexistence.is_collision(mapped):
                # The card refused the change (6982/6988: checking errors, nothing
                # written) because another application took the session after the
                # VERIFY. Not repeated: that would send both PINs again.
                mapped = coexistence.busy(serial, "change_pin")
            raise mapped from exc
    finally:
        if session is not None:
            svc._close_session(session, logged_in=True)
            svc._end_card_login()  # C_Logout alone leaves the card verified
        if was_logged_in:
            svc._notify(serial, False, svc.counter.seen_locked(serial))
