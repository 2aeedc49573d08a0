"""The PKCS#11 token service: one worker thread owns OpenSC's module and every session.

Why one thread: OpenSC deadlocks under concurrent calls from several threads, and the
ePass2003's secure-messaging session belongs to the card, so all token work in a process
is serialised here. Public methods may be called from any thread; they hand a closure to
the worker and wait for its result or its typed error (`trayd.errors`).

Why short sessions: another process binding the token (a browser, a second trayd) makes
the card re-authenticate and can drop a login. Every query opens a session, reads, and
closes it; the only session kept is the explicit logged-in one (`login()` until
`logout()` or the token's removal).

Why the PIN path is hand-made (see `pkcs11_module`): the session is opened without a
PIN and `C_Login` is called on its handle, so a failed login cannot leak a session; the
PIN's length is checked against the token's min/max first (no try wasted); consecutive
failures are counted per token (OpenSC never reports the ePass2003's tries left) and the
try that could lock the token needs `confirm_last_try=True`. `CKR_GENERAL_ERROR` from a
login is a failure, never a success (OpenSC#871). A PIN is never retried, logged or kept.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from trayd import errors as E
from trayd.config import Config
from trayd.core import certificates, export, opensc_version, pin_policy
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.core.pin_counter import PinFailureCounter
from trayd.core.pkcs11_module import RawModule, RawTokenInfo, ckr_name, find_module

log = logging.getLogger(__name__)
T = TypeVar("T")

# CK_TOKEN_INFO flags → the names of the CLI contract.
TOKEN_FLAGS = (
    (0x00000004, "login_required"),
    (0x00000008, "user_pin_initialized"),
    (0x00010000, "user_pin_count_low"),
    (0x00020000, "user_pin_final_try"),
    (0x00040000, "user_pin_locked"),
    (0x00080000, "user_pin_to_be_changed"),
    (0x00000100, "protected_authentication_path"),
    (0x00000002, "write_protected"),
    (0x00000400, "token_initialized"),
)
CKF_USER_PIN_FINAL_TRY = 0x00020000
CKF_USER_PIN_LOCKED = 0x00040000

CKR_OK = 0x00
CKR_GENERAL_ERROR = 0x05
CKR_DEVICE_ERROR = 0x30
CKR_DEVICE_REMOVED = 0x32
CKR_PIN_INCORRECT = 0xA0
CKR_PIN_INVALID = 0xA1
CKR_PIN_LEN_RANGE = 0xA2
CKR_PIN_LOCKED = 0xA4
CKR_SESSION_CLOSED = 0xB0
CKR_SESSION_HANDLE_INVALID = 0xB3
CKR_TOKEN_NOT_PRESENT = 0xE0
CKR_TOKEN_NOT_RECOGNIZED = 0xE1
CKR_USER_ALREADY_LOGGED_IN = 0x100
REMOVED_RVS = frozenset({CKR_DEVICE_REMOVED, CKR_SESSION_CLOSED, CKR_SESSION_HANDLE_INVALID,
                         CKR_TOKEN_NOT_PRESENT, CKR_TOKEN_NOT_RECOGNIZED, 0x03})
# Login answers counted as a wrong PIN: the documented one, and the ones real tokens
# give instead (OpenSC#871; 63C0 surfaces as a device error).
FAILED_LOGIN_RVS = frozenset({CKR_PIN_INCORRECT, CKR_GENERAL_ERROR, CKR_DEVICE_ERROR})
# How long a vague error waits for PC/SC to notice a pulled token (vpcd polls at 400 ms;
# a real CCID token is seen at once).
SETTLE_SECONDS = 1.2


@dataclass
class _Slot:
    slot_id: int
    reader: str
    info: RawTokenInfo


@dataclass
class _Held:
    """The logged-in session kept for `serial` until logout or removal."""

    slot_id: int
    reader: str
    session: Any


StateListener = Callable[[str, bool, bool], None]  # (serial, logged_in, locked)


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    return ""


class LocalTokenService:
    """`TokenBackend` over OpenSC's PKCS#11 module in this process."""

    def __init__(self, cfg: Config | None = None, *, module_path: str | None = None,
                 counter: PinFailureCounter | None = None,
                 on_state_change: StateListener | None = None) -> None:
        self._cfg = cfg or Config()
        self._module_path = module_path
        self.counter = counter or PinFailureCounter()
        self._listeners: list[StateListener] = [on_state_change] if on_state_change else []
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="trayd-pkcs11", initializer=self._mark_worker)
        self._worker_ident: int | None = None
        self._lib: Any = None
        self._raw: RawModule | None = None
        self._held: dict[str, _Held] = {}
        self._readers: dict[int, tuple[str, str]] = {}  # slot id -> (reader, token serial)
        self._pslots: dict[int, Any] = {}  # slot id -> python-pkcs11 Slot
        self._closed = False

    # --- plumbing ----------------------------------------------------------------------

    def _mark_worker(self) -> None:
        self._worker_ident = threading.get_ident()

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the worker thread and return its result (re-raising its error)."""
        if self._closed:
            raise E.TokenError(code="closed", detail="token service closed")
        if threading.get_ident() == self._worker_ident:
            return fn(*args)
        return self._executor.submit(fn, *args).result()

    def add_state_listener(self, listener: StateListener) -> Callable[[], None]:
        """Called (on the worker thread) when a token's login/lock state changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, serial: str, logged_in: bool, locked: bool = False) -> None:
        for listener in list(self._listeners):
            try:
                listener(serial, logged_in, locked)
            except Exception:  # noqa: BLE001 - a broken listener must not break token work
                log.exception("token state listener failed")

    @property
    def max_tries(self) -> int:
        return self._cfg.max_pin_tries

    @property
    def module_path(self) -> str:
        return self._module_path or find_module(self._cfg.pkcs11_module)

    def _ensure_lib(self) -> tuple[Any, RawModule]:
        if self._lib is None or not self._lib.initialized:
            path = self.module_path
            try:
                import pkcs11

                self._lib = pkcs11.lib(path)
            except Exception as exc:  # noqa: BLE001 - any load failure is the same to users
                raise E.Pkcs11ModuleError(path=path, detail=str(exc) or type(exc).__name__) from exc
            self._raw = RawModule(path)
        assert self._raw is not None
        return self._lib, self._raw

    def _map(self, exc: BaseException, serial: str | None, operation: str) -> E.TraydError:
        """A python-pkcs11 exception → a typed trayd error."""
        import pkcs11.exceptions as X

        if isinstance(exc, E.TraydError):
            return exc
        removed = (X.DeviceRemoved, X.TokenNotPresent, X.SessionHandleInvalid, X.SessionClosed,
                   X.TokenNotRecognised, X.SlotIDInvalid)
        if isinstance(exc, removed):
            return E.TokenRemoved(serial=serial, operation=operation)
        if isinstance(exc, X.PinLocked):
            return E.PinLocked(serial=serial)
        return E.TokenError(code=type(exc).__name__, detail=str(exc))

    # --- slots -------------------------------------------------------------------------

    def _slots(self) -> list[_Slot]:
        """Slots with a token: ONE C_GetSlotList (OpenSC re-detects cards on each call,
        ~4 ms), C_GetTokenInfo per slot (memory only), and the reader name from a cache
        (C_GetSlotInfo detects again) that a removal or a new token in the slot clears."""
        _lib, raw = self._ensure_lib()
        rv, ids = raw.slot_list(token_present=True)
        if rv != CKR_OK:
            raise E.TokenError(code=ckr_name(rv), detail="C_GetSlotList")
        out = []
        for slot_id in ids:
            rv, info = raw.token_info(slot_id)
            if rv != CKR_OK or info is None:
                log.debug("slot %s: C_GetTokenInfo %s", slot_id, ckr_name(rv))
                continue
            cached = self._readers.get(slot_id)
            if cached is None or cached[1] != info.serial:
                rv, description = raw.slot_description(slot_id)
                if rv != CKR_OK:
                    continue
                cached = (description.strip(), info.serial)
                self._readers[slot_id] = cached
            out.append(_Slot(slot_id, cached[0], info))
        present = {s.info.serial for s in out}
        for serial in [s for s in self._held if s not in present]:
            self._drop_held(serial)
        return out

    def _find(self, serial: str | None) -> _Slot:
        slots = self._slots()
        if serial is None:
            if len(slots) == 1:
                return slots[0]
            raise E.NoSuchToken(serial=None, present=len(slots))
        for s in slots:
            if same_serial(s.info.serial, serial):
                return s
        raise E.NoSuchToken(serial=serial, present=len(slots))

    def _token_object(self, slot: _Slot) -> Any:
        """python-pkcs11's Token for `slot` (needed to open sessions). Its Slot objects
        are kept: listing them again costs three card detections."""
        lib, _raw = self._ensure_lib()
        try:
            pslot = self._pslots.get(slot.slot_id)
            if pslot is None:
                self._pslots = {s.slot_id: s for s in lib.get_slots(token_present=False)}
                pslot = self._pslots.get(slot.slot_id)
            if pslot is not None:
                token = pslot.get_token()
                if same_serial(token.serial.decode("ascii", "replace"), slot.info.serial):
                    return token
        except Exception as exc:  # noqa: BLE001
            raise self._map(exc, slot.info.serial, "open") from exc
        raise E.TokenRemoved(serial=slot.info.serial, operation="open")

    def _token_info(self, slot: _Slot) -> TokenInfo:
        i = slot.info
        flags = [name for bit, name in TOKEN_FLAGS if i.flags & bit]
        tries_left = 0 if i.flags & CKF_USER_PIN_LOCKED else (
            1 if i.flags & CKF_USER_PIN_FINAL_TRY else None)
        locked = bool(i.flags & CKF_USER_PIN_LOCKED) or self.counter.seen_locked(i.serial)
        return TokenInfo(
            reader=slot.reader, slot=slot.slot_id, label=i.label, serial=i.serial,
            manufacturer=i.manufacturer, model=i.model, pin_min=i.pin_min, pin_max=i.pin_max,
            hardware_version=i.hardware_version, firmware_version=i.firmware_version,
            flags=flags, tries_left=tries_left, locked=locked,
            logged_in=i.serial in self._held,
        )

    def _gone(self, slot: _Slot, settle: float = SETTLE_SECONDS) -> bool:
        """Whether the token left, watching for up to `settle` seconds."""
        deadline = time.monotonic() + settle
        while True:
            if not self._still_present(slot):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def _still_present(self, slot: _Slot) -> bool:
        try:
            return any(s.slot_id == slot.slot_id and s.info.serial == slot.info.serial
                       for s in self._slots())
        except E.TraydError:
            return False

    # --- sessions ----------------------------------------------------------------------

    def _close_session(self, session: Any, logged_in: bool) -> None:
        _lib, raw = self._ensure_lib()
        if logged_in:
            rv = raw.logout(session.handle)
            if rv != CKR_OK:
                log.debug("C_Logout: %s", ckr_name(rv))
        rv = raw.close_session(session.handle)
        if rv != CKR_OK:
            log.debug("C_CloseSession: %s", ckr_name(rv))

    def _drop_held(self, serial: str, notify: bool = True) -> None:
        held = self._held.pop(serial, None)
        if held is None:
            return
        self._close_session(held.session, logged_in=True)
        if notify:
            self._notify(serial, False, self.counter.seen_locked(serial))

    def _open(self, slot: _Slot, rw: bool = False) -> Any:
        token = self._token_object(slot)
        try:
            return token.open(rw=rw)
        except Exception as exc:  # noqa: BLE001
            raise self._map(exc, slot.info.serial, "open") from exc

    def _login_on(self, slot: _Slot, session: Any, pin: str, confirm_last_try: bool,
                  operation: str) -> None:
        """C_Login on an open session with every safeguard; raises a typed error on failure."""
        serial = slot.info.serial
        pin_policy.check_length(pin, slot.info.pin_min, slot.info.pin_max)
        if not confirm_last_try and self.counter.needs_last_try_confirmation(serial, self.max_tries):
            raise E.ConfirmationRequired(reason="last_try")
        _lib, raw = self._ensure_lib()
        buf = bytearray(pin.encode("utf-8"))
        try:
            rv = raw.login(session.handle, buf)
        finally:
            for i in range(len(buf)):
                buf[i] = 0
        if rv == CKR_OK:
            self.counter.record_success(serial)
            return
        log.info("login on token %s failed: %s", serial, ckr_name(rv))
        # A vague answer may mean the token was pulled mid-command; PC/SC can take a
        # moment to notice (vpcd polls every 400 ms), so wait for presence to settle
        # before counting it as a wrong PIN.
        vague = rv not in (CKR_PIN_INCORRECT, CKR_PIN_LOCKED, CKR_PIN_LEN_RANGE, CKR_PIN_INVALID)
        if rv in REMOVED_RVS or (vague and self._gone(slot)):
            raise E.TokenRemoved(serial=serial, operation=operation)
        if rv == CKR_PIN_LOCKED:
            self.counter.record_locked(serial)
            self._notify(serial, False, True)
            raise E.PinLocked(serial=serial)
        if rv in FAILED_LOGIN_RVS:
            seen = self.counter.record_failure(serial)
            fresh = self._find(serial).info.flags
            tries = 0 if fresh & CKF_USER_PIN_LOCKED else 1 if fresh & CKF_USER_PIN_FINAL_TRY else None
            raise E.WrongPin(tries_left=tries, failures_seen=seen, max_tries=self.max_tries)
        if rv == CKR_PIN_LEN_RANGE:
            n = len(pin.encode("utf-8"))
            too_long = slot.info.pin_max is not None and n > slot.info.pin_max
            raise E.PinPolicyError(reason="too_long" if too_long else "too_short",
                                   minimum=slot.info.pin_min, maximum=slot.info.pin_max)
        if rv == CKR_PIN_INVALID:
            raise E.PinPolicyError(reason="invalid", minimum=slot.info.pin_min,
                                   maximum=slot.info.pin_max)
        raise E.TokenError(code=ckr_name(rv), detail=operation)

    # --- TokenBackend ------------------------------------------------------------------

    def list_tokens(self) -> list[TokenInfo]:
        return self._call(lambda: [self._token_info(s) for s in self._slots()])

    def token_info(self, token_serial: str | None = None) -> TokenInfo:
        """One token (the only one when `token_serial` is None); NoSuchToken otherwise."""
        return self._call(lambda: self._token_info(self._find(token_serial)))

    def token_in_reader(self, reader: str) -> TokenInfo | None:
        """The token in PC/SC reader `reader` (OpenSC's slot description is the reader name)."""
        def work() -> TokenInfo | None:
            for s in self._slots():
                if reader_matches(reader, s.reader):
                    return self._token_info(s)
            return None
        return self._call(work)

    def read_reader(self, reader: str) -> tuple[TokenInfo, list[CertificateInfo]] | None:
        """The token in `reader` and its certificates in one pass (the agent's reaction to
        CardInserted: one slot scan instead of two)."""
        def work() -> tuple[TokenInfo, list[CertificateInfo]] | None:
            for s in self._slots():
                if reader_matches(reader, s.reader):
                    return self._token_info(s), self._certificates(s)
            return None
        return self._call(work)

    def list_certificates(self, token_serial: str | None = None) -> list[CertificateInfo]:
        def work() -> list[CertificateInfo]:
            slots = self._slots()
            if token_serial is not None:
                slots = [s for s in slots if same_serial(s.info.serial, token_serial)]
                if not slots:
                    raise E.NoSuchToken(serial=token_serial, present=len(self._slots()))
            out: list[CertificateInfo] = []
            for slot in slots:
                out.extend(self._certificates(slot))
            return out
        return self._call(work)

    def _certificates(self, slot: _Slot) -> list[CertificateInfo]:
        from pkcs11 import Attribute, ObjectClass

        serial = slot.info.serial
        session = self._open(slot)
        try:
            out = []
            for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
                label, id_hex, der, error = "", "", None, None
                try:
                    label = str(obj[Attribute.LABEL] or "")
                except Exception as exc:  # noqa: BLE001
                    self._reraise_if_removed(exc, slot, "list")
                try:
                    id_hex = _hex(obj[Attribute.ID])
                except Exception as exc:  # noqa: BLE001
                    self._reraise_if_removed(exc, slot, "list")
                try:
                    der = bytes(obj[Attribute.VALUE])
                except Exception as exc:  # noqa: BLE001
                    self._reraise_if_removed(exc, slot, "list")
                    error = f"CKA_VALUE: {type(exc).__name__}"
                info = certificates.summarize(der, token_serial=serial, label=label, id_hex=id_hex)
                if error and not info.readable:
                    info.error = error
                out.append(info)
            return out
        except E.TraydError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._removed_or(exc, slot, "list") from exc
        finally:
            self._close_session(session, logged_in=False)

    def _removed_or(self, exc: BaseException, slot: _Slot, operation: str) -> E.TraydError:
        """Map `exc`; a vague module error while the token is gone means TokenRemoved."""
        mapped = self._map(exc, slot.info.serial, operation)
        if isinstance(mapped, E.TokenError) and self._gone(slot):
            return E.TokenRemoved(serial=slot.info.serial, operation=operation)
        return mapped

    def _reraise_if_removed(self, exc: BaseException, slot: _Slot, operation: str) -> None:
        mapped = self._removed_or(exc, slot, operation)
        if isinstance(mapped, E.TokenRemoved):
            raise mapped from exc

    def certificate_der(self, token_serial: str, cert_id: str) -> bytes:
        def work() -> bytes:
            from pkcs11 import Attribute, ObjectClass

            slot = self._find(token_serial)
            try:
                wanted = bytes.fromhex(cert_id)
            except ValueError:
                raise E.NoSuchCertificate(token_serial=slot.info.serial, cert_id=cert_id) from None
            session = self._open(slot)
            try:
                for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                                Attribute.ID: wanted}):
                    return bytes(obj[Attribute.VALUE])
            except Exception as exc:  # noqa: BLE001
                raise self._removed_or(exc, slot, "export") from exc
            finally:
                self._close_session(session, logged_in=False)
            if self._gone(slot):  # a token pulled while OpenSC bound it lists too little
                raise E.TokenRemoved(serial=slot.info.serial, operation="export")
            raise E.NoSuchCertificate(token_serial=slot.info.serial, cert_id=cert_id)
        return self._call(work)

    def export_certificate(self, token_serial: str, cert_id: str, path: Path,
                           fmt: str = "der", force: bool = False) -> Path:
        if fmt not in export.FORMATS:
            raise E.UsageError(detail=f"unknown format {fmt!r} (der or pem)")
        target = Path(path).expanduser()
        if not force and (target.exists() or target.is_symlink()):
            raise E.FileExistsRefused(path=str(target))  # before touching the token
        der = self.certificate_der(token_serial, cert_id)
        summary = certificates.summarize(der)
        if not summary.readable:
            raise E.TokenError(code="certificate_unreadable", detail=summary.error or "")
        return export.write_certificate(der, target, fmt=fmt, force=force)

    def login(self, token_serial: str, pin: str, confirm_last_try: bool = False) -> TokenInfo:
        def work() -> TokenInfo:
            slot = self._find(token_serial)
            serial = slot.info.serial
            self._drop_held(serial, notify=False)  # a new login verifies the PIN again
            session = self._open(slot)
            try:
                self._login_on(slot, session, pin, confirm_last_try, "login")
            except BaseException:
                self._close_session(session, logged_in=False)
                if serial not in self._held:
                    self._notify(serial, False, self.counter.seen_locked(serial))
                raise
            self._held[serial] = _Held(slot.slot_id, slot.reader, session)
            self._notify(serial, True, False)
            return self._token_info(slot)
        return self._call(work)

    def logout(self, token_serial: str | None = None) -> None:
        def work() -> None:
            serial = token_serial
            if serial is None:
                if len(self._held) == 1:
                    serial = next(iter(self._held))
                else:
                    serial = self._find(None).info.serial
            self._drop_held(serial)
            self._end_card_login()
        self._call(work)

    def _end_card_login(self) -> None:
        """C_Logout leaves the card itself verified on OpenSC 0.23+ (core/opensc_version.py):
        re-initialise the module (other logins end too) and reconnect at once, whose secure
        messaging handshake resets the card's PIN state. Nothing signs without a new login."""
        if not opensc_version.behaviour().logout_leaves_card_verified or self._lib is None:
            return
        for other in list(self._held):
            self._drop_held(other)
        try:
            self._lib.reinitialize()
        except Exception:  # noqa: BLE001 - a fresh load below is just as good
            log.debug("C_Finalize/C_Initialize failed; loading the module again", exc_info=True)
            self._lib = None
        self._pslots.clear()
        self._readers.clear()
        try:
            self._slots()
        except E.TraydError as exc:  # gone meanwhile: then its PIN state went with it
            log.debug("reconnect after logout: %s", exc)

    def is_logged_in(self, token_serial: str) -> bool:
        return token_serial in self._held

    def change_pin(self, token_serial: str, old_pin: str, new_pin: str,
                   confirm_weak: bool = False, confirm_last_try: bool = False) -> None:
        def work() -> None:
            slot = self._find(token_serial)
            serial = slot.info.serial
            lo, hi = slot.info.pin_min, slot.info.pin_max
            pin_policy.check_length(old_pin, lo, hi)
            pin_policy.check_length(new_pin, lo, hi)
            if new_pin == old_pin:
                raise E.PinPolicyError(reason="same_as_current", minimum=lo, maximum=hi)
            if pin_policy.strength(new_pin, old_pin) == pin_policy.Strength.LOW and not confirm_weak:
                raise E.ConfirmationRequired(reason="weak_pin")
            # Verify the current PIN on a fresh session even when we hold a login: OpenSC
            # 0.23's ePass2003 driver does not check the old PIN in C_SetPIN itself (0.24+
            # does; one wrong PIN still costs one try: C_SetPIN is not sent after a failed
            # verify). See core/opensc_version.py.
            was_logged_in = serial in self._held
            self._drop_held(serial, notify=False)
            session = self._open(slot, rw=True)
            logged_in = False
            try:
                self._login_on(slot, session, old_pin, confirm_last_try, "change_pin")
                logged_in = True
                try:
                    session.set_pin(old_pin, new_pin)
                except Exception as exc:  # noqa: BLE001
                    import pkcs11.exceptions as X

                    if isinstance(exc, X.PinIncorrect):
                        seen = self.counter.record_failure(serial)
                        raise E.WrongPin(failures_seen=seen, max_tries=self.max_tries) from exc
                    if isinstance(exc, X.PinLenRange):
                        raise E.PinPolicyError(reason="too_long" if hi and len(new_pin) > hi
                                               else "too_short", minimum=lo, maximum=hi) from exc
                    mapped = self._map(exc, serial, "change_pin")
                    if not isinstance(mapped, E.TokenRemoved) and self._gone(slot):
                        mapped = E.TokenRemoved(serial=serial, operation="change_pin")
                    raise mapped from exc
            finally:
                self._close_session(session, logged_in=logged_in)
                if logged_in:
                    self._end_card_login()
                if was_logged_in:
                    self._notify(serial, False, self.counter.seen_locked(serial))
        self._call(work)

    def reader_removed(self, reader: str) -> None:
        """The PC/SC monitor saw the card leave `reader`: forget its login at once."""
        def work() -> None:
            self._readers.clear()  # a CCID token's reader may come back under another slot
            for serial, held in list(self._held.items()):
                if reader_matches(reader, held.reader):
                    self._drop_held(serial)
        self._call(work)

    def forget_all(self) -> None:
        """pcscd went away: every card session (and so every login) is gone."""
        def work() -> None:
            self._readers.clear()
            for serial in list(self._held):
                self._drop_held(serial)
        self._call(work)

    def pin_failures(self, token_serial: str) -> int:
        """Consecutive wrong PINs trayd has seen on this token."""
        return self.counter.failures(token_serial)

    def close(self) -> None:
        if self._closed:
            return

        def work() -> None:
            for serial in list(self._held):
                try:
                    self._drop_held(serial)
                except Exception:  # noqa: BLE001
                    log.debug("closing held session of %s failed", serial, exc_info=True)
            if self._lib is not None and self._lib.initialized:
                try:
                    self._lib.finalize()
                except Exception:  # noqa: BLE001
                    log.debug("C_Finalize failed", exc_info=True)
        try:
            self._call(work)
        finally:
            self._closed = True
            self._executor.shutdown(wait=True)

    def __enter__(self) -> LocalTokenService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def same_serial(a: str, b: str) -> bool:
    """Token serials compare case-insensitively (OpenSC shows lower-case hex)."""
    return a.strip().casefold() == b.strip().casefold()


def reader_matches(reader: str, slot_description: str) -> bool:
    """PC/SC reader name ↔ OpenSC slot description (may be cut at 64 bytes, padded)."""
    a, b = reader.strip(), slot_description.strip()
    if not a or not b:
        return False
    return a == b or a.startswith(b) or b.startswith(a)
