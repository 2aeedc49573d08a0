"""The PKCS#11 token service: one worker thread owns OpenSC's module and every session.

Why one thread: OpenSC deadlocks under concurrent calls from several threads, and the
ePass2003's secure-messaging session belongs to the card, so all token work in a process
is serialised here. Public methods may be called from any thread; they hand a closure to
the worker and wait for its result or its typed error (`trayd.errors`).

Why short sessions: another process binding the token (a browser, a second trayd) makes
the card re-authenticate and can drop a login. Every query opens a session, reads, and
closes it; the only session kept is the explicit logged-in one (`login()` until
`logout()` or the token's removal).

Why several modules: the PIN paths live in `pin_login`, the certificate reads in
`token_objects`, sharing the card with other applications in `coexistence`, the CKR
table in `ckr`. This module keeps the worker, the slot cache, the sessions and the
public `TokenBackend` methods. Every public operation runs through `_recovering`: a
non-PIN operation that meets another application's secure-messaging session is
repeated once on a re-initialised module; the PIN paths decide for themselves.
"""
from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from trayd import errors as E
from trayd.config import Config
from trayd.core import (certificates, ckr, coexistence, export, opensc_version, pin_login,
                        token_objects)
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.core.pin_counter import PinFailureCounter
from trayd.core.pkcs11_module import RawModule, ckr_name, find_module
from trayd.core.slot_cache import (  # noqa: F401 - re-exported for callers and tests
    TOKEN_FLAGS, SlotCache, _Slot, reader_matches, same_serial)
from trayd.threads import name_os_thread

log = logging.getLogger(__name__)
T = TypeVar("T")

CKR_OK = ckr.OK
@dataclass
class _Held:
    """The logged-in session kept for `serial` until logout or removal."""

    slot_id: int
    reader: str
    session: Any


StateListener = Callable[[str, bool, bool], None]  # (serial, logged_in, locked)


class LocalTokenService(SlotCache):
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
        self.reinits = 0  # module re-initialisations (coexistence), for tests and logs
        self.handbacks = 0  # card resets after trayd's own work (coexistence.hand_back)
        self._touched: set[str] = set()  # slot descriptions of tokens this operation used

    # --- plumbing ----------------------------------------------------------------------

    def _mark_worker(self) -> None:
        self._worker_ident = threading.get_ident()
        name_os_thread()

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the worker thread and return its result (re-raising its error)."""
        if self._closed:
            raise E.TokenError(code="closed", detail="token service closed")
        if threading.get_ident() == self._worker_ident:
            return fn(*args)
        return self.later(fn, *args).result()

    def later(self, method: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Start public method `method(*args)` on the worker and return at once.

        The agent's loop uses it (`TokenComponent`) to read a token without waiting: the
        future's callback, which runs on the worker, hands the result back to the loop."""
        if self._closed:
            raise E.TokenError(code="closed", detail="token service closed")
        return self._executor.submit(self._operation, method, *args)

    def _operation(self, fn: Callable[..., T], *args: Any) -> T:
        """One public operation on the worker; afterwards give the card back to other
        applications (`coexistence.hand_back`)."""
        try:
            return fn(*args)
        finally:
            if self._touched:
                coexistence.hand_back(self)

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
        rv = ckr.rv_of(exc)
        if rv is None:
            return E.TokenError(code=type(exc).__name__, detail=str(exc), kind="card",
                                operation=operation)
        return E.TokenError(code=ckr.name(rv), detail=str(exc), rv=rv, kind=ckr.kind(rv),
                            operation=operation)

    def _recovering(self, operation: str, work: Callable[[], T]) -> T:
        """Run `work`; if it meets another application's SM session, re-initialise the
        module and run it once more (non-PIN operations only, see `coexistence`)."""
        try:
            return work()
        except E.TokenError as err:
            if not coexistence.is_collision(err):
                raise
            first = err
        coexistence.reinit(self, f"{operation} answered {first.code}")
        try:
            return work()
        except E.TokenError as err:
            if coexistence.is_collision(err):
                raise coexistence.busy(None, operation) from err
            raise

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

    # --- TokenBackend ------------------------------------------------------------------

    def list_tokens(self) -> list[TokenInfo]:
        return self._call(lambda: self._recovering(
            "list", lambda: [self._token_info(s) for s in self._slots()]))

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
                    return self._token_info(s), token_objects.certificates_on(self, s)
            return None
        return self._call(lambda: self._recovering("list", work))

    def list_certificates(self, token_serial: str | None = None) -> list[CertificateInfo]:
        def work() -> list[CertificateInfo]:
            slots = self._slots()
            if token_serial is not None:
                slots = [s for s in slots if same_serial(s.info.serial, token_serial)]
                if not slots:
                    raise E.NoSuchToken(serial=token_serial, present=len(self._slots()))
            out: list[CertificateInfo] = []
            for slot in slots:
                out.extend(token_objects.certificates_on(self, slot))
            return out
        return self._call(lambda: self._recovering("list", work))

    def certificate_der(self, token_serial: str, cert_id: str) -> bytes:
        return self._call(lambda: self._recovering("export", lambda: token_objects.certificate_der(
            self, self._find(token_serial), cert_id)))

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
            try:
                slot, session = pin_login.login_session(self, slot, pin, confirm_last_try,
                                                        "login")
            except BaseException:
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
        try:
            coexistence.reinit(self, "logout: C_Logout leaves the card verified")
            self._slots()  # reconnect now, not at the next use
        except E.TraydError as exc:  # gone meanwhile: then its PIN state went with it
            log.debug("reconnect after logout: %s", exc)

    def is_logged_in(self, token_serial: str) -> bool:
        return token_serial in self._held

    def change_pin(self, token_serial: str, old_pin: str, new_pin: str,
                   confirm_weak: bool = False, confirm_last_try: bool = False) -> None:
        self._call(lambda: pin_login.change_pin(self, self._find(token_serial), old_pin,
                                                new_pin, confirm_weak, confirm_last_try))

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

    def close(self, timeout: float | None = None) -> bool:
        """Finalize OpenSC's module on the worker and stop it; False if `timeout` passed
        first (the agent then goes on stopping the rest instead of waiting here for a
        stuck pcscd)."""
        if self._closed:
            return True

        def work() -> None:
            for serial in list(self._held):
                try:
                    self._drop_held(serial)
                except Exception:  # noqa: BLE001
                    log.debug("closing held session of %s failed", serial, exc_info=True)
            if self._lib is not None and self._lib.initialized and self._raw is not None:
                try:
                    self._raw.finalize()  # ctypes: releases the GIL (RawModule.finalize)
                    coexistence.forget_initialized(self._lib)
                except Exception:  # noqa: BLE001
                    log.debug("C_Finalize failed", exc_info=True)
        if threading.get_ident() == self._worker_ident:
            work()
            self._closed = True
            return True
        future = self.later(work)
        self._closed = True
        self._executor.shutdown(wait=False)
        try:
            future.result(timeout)
        except concurrent.futures.TimeoutError:
            log.warning("closing the PKCS#11 module took over %.1f s; not waiting", timeout)
            return False
        except Exception:  # noqa: BLE001 - closing is best effort
            log.debug("closing the token service failed", exc_info=True)
        return True

    def __enter__(self) -> LocalTokenService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
