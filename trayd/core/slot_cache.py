"""The slot cache of the token service: which tokens OpenSC shows, in which reader.

Why a cache: OpenSC re-detects readers and cards on every C_GetSlotList (a few ms) and on
every C_GetSlotInfo, so the service asks for the slot list once per operation and keeps
reader names and python-pkcs11 Slot objects until a removal or a new token clears them
(`coexistence.reinit` clears them too: slot ids may change with a new module instance).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from trayd import errors as E
from trayd.core import ckr, pin_login
from trayd.core.models import TokenInfo
from trayd.core.pkcs11_module import RawTokenInfo, ckr_name

log = logging.getLogger(__name__)

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
# How long a vague error waits for PC/SC to notice a pulled token (vpcd polls at 400 ms;
# a real CCID token is seen at once).
SETTLE_SECONDS = 1.2


@dataclass
class _Slot:
    slot_id: int
    reader: str
    info: RawTokenInfo


class SlotCache:
    """Mixin of `LocalTokenService`: slot scan, lookup by serial, presence checks."""

    # Provided by LocalTokenService: _ensure_lib, _map, _drop_held, counter.
    _readers: dict[int, tuple[str, str]]
    _pslots: dict[int, Any]
    _held: dict[str, Any]
    counter: Any
    _touched: set[str]

    def _slots(self) -> list[_Slot]:
        """Slots with a token: ONE C_GetSlotList (OpenSC re-detects cards on each call,
        ~4 ms), C_GetTokenInfo per slot (memory only), and the reader name from a cache
        (C_GetSlotInfo detects again) that a removal or a new token in the slot clears."""
        _lib, raw = self._ensure_lib()
        rv, ids = raw.slot_list(token_present=True)
        if rv != ckr.OK:
            raise E.TokenError(code=ckr_name(rv), detail="C_GetSlotList", rv=rv,
                               kind=ckr.kind(rv), operation="list")
        out = []
        for slot_id in ids:
            rv, info = raw.token_info(slot_id)
            if rv != ckr.OK or info is None:
                log.debug("slot %s: C_GetTokenInfo %s", slot_id, ckr_name(rv))
                continue
            cached = self._readers.get(slot_id)
            if cached is None or cached[1] != info.serial:
                rv, description = raw.slot_description(slot_id)
                if rv != ckr.OK:
                    continue
                cached = (description.strip(), info.serial)
                self._readers[slot_id] = cached
            out.append(_Slot(slot_id, cached[0], info))
        self._touched.update(s.reader for s in out)  # C_GetSlotList may have used the card
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
        tries_left = pin_login.tries_left(i.flags)
        locked = bool(i.flags & pin_login.CKF_USER_PIN_LOCKED) or self.counter.seen_locked(i.serial)
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


def same_serial(a: str, b: str) -> bool:
    """Token serials compare case-insensitively (OpenSC shows lower-case hex)."""
    return a.strip().casefold() == b.strip().casefold()


def reader_matches(reader: str, slot_description: str) -> bool:
    """PC/SC reader name ↔ OpenSC slot description (may be cut at 64 bytes, padded)."""
    a, b = reader.strip(), slot_description.strip()
    if not a or not b:
        return False
    return a == b or a.startswith(b) or b.startswith(a)
