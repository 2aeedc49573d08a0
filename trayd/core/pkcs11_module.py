"""Finding OpenSC's PKCS#11 module, and the few raw calls python-pkcs11 does not offer.

Why a search list: Debian puts `opensc-pkcs11.so` under the multiarch directory, Fedora
under `/usr/lib64`, Arch under `/usr/lib`; the config key `pkcs11_module` overrides it.

Why raw calls (ctypes, on the SAME loaded module instance python-pkcs11 uses):
- python-pkcs11 0.10.1's `Token` drops `ulMinPinLen`/`ulMaxPinLen`; we must check a
  PIN's length before it is sent (an invalid length must not cost a try).
- `Token.open(user_pin=...)` opens a session and then calls `C_Login`; when the login
  fails the session handle is lost (leaked, later RW/SO logins then fail). We open the
  session without a PIN and call `C_Login` on its handle ourselves, so a failed login
  leaves a session we still own and close.
- `Session.close()` skips `C_CloseSession` when its `C_Logout` fails (token pulled);
  `close_session()` always tries both.
`dlopen()` of a path that is already loaded returns the same instance, so these calls
see python-pkcs11's initialised module state.
"""
from __future__ import annotations

import ctypes
import os
import platform
from dataclasses import dataclass
from pathlib import Path

from trayd.core import ckr
from trayd.errors import Pkcs11ModuleError

MODULE_NAME = "opensc-pkcs11.so"


def candidates() -> list[str]:
    """Where distributions install OpenSC's module, most specific first."""
    machine = platform.machine() or "x86_64"
    triplets = {
        "x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu",
        "armv7l": "arm-linux-gnueabihf", "i686": "i386-linux-gnu",
        "ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu",
        "riscv64": "riscv64-linux-gnu",
    }
    triplet = triplets.get(machine, f"{machine}-linux-gnu")
    return [
        f"/usr/lib/{triplet}/opensc-pkcs11.so",  # Debian / Ubuntu
        f"/usr/lib/{triplet}/pkcs11/opensc-pkcs11.so",
        "/usr/lib64/opensc-pkcs11.so",  # Fedora / openSUSE
        "/usr/lib64/pkcs11/opensc-pkcs11.so",
        "/usr/lib/opensc-pkcs11.so",  # Arch
        "/usr/lib/pkcs11/opensc-pkcs11.so",
        "/usr/local/lib/opensc-pkcs11.so",
        "/usr/local/lib/pkcs11/opensc-pkcs11.so",
    ]


def find_module(configured: str = "") -> str:
    """The module path to load: the configured one (must exist) or the first found."""
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise Pkcs11ModuleError(path=str(path), detail="file not found (config pkcs11_module)")
        return str(path)
    for candidate in candidates():
        if os.path.isfile(candidate):
            return candidate
    raise Pkcs11ModuleError(path=MODULE_NAME,
                            detail="not found; install the opensc-pkcs11 package")


# --- raw calls -------------------------------------------------------------------------

CK_ULONG = ctypes.c_ulong

CKU_USER = 1
CKR_OK = 0
CKR_BUFFER_TOO_SMALL = 0x150

ckr_name = ckr.name  # the one CKR table is trayd.core.ckr


class CkVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_ubyte), ("minor", ctypes.c_ubyte)]


class CkSlotInfo(ctypes.Structure):
    _fields_ = [
        ("slotDescription", ctypes.c_char * 64), ("manufacturerID", ctypes.c_char * 32),
        ("flags", CK_ULONG), ("hardwareVersion", CkVersion), ("firmwareVersion", CkVersion),
    ]


class CkTokenInfo(ctypes.Structure):
    """CK_TOKEN_INFO as laid out by a Unix PKCS#11 module (natural alignment)."""

    _fields_ = [
        ("label", ctypes.c_char * 32), ("manufacturerID", ctypes.c_char * 32),
        ("model", ctypes.c_char * 16), ("serialNumber", ctypes.c_char * 16),
        ("flags", CK_ULONG), ("ulMaxSessionCount", CK_ULONG), ("ulSessionCount", CK_ULONG),
        ("ulMaxRwSessionCount", CK_ULONG), ("ulRwSessionCount", CK_ULONG),
        ("ulMaxPinLen", CK_ULONG), ("ulMinPinLen", CK_ULONG),
        ("ulTotalPublicMemory", CK_ULONG), ("ulFreePublicMemory", CK_ULONG),
        ("ulTotalPrivateMemory", CK_ULONG), ("ulFreePrivateMemory", CK_ULONG),
        ("hardwareVersion", CkVersion), ("firmwareVersion", CkVersion),
        ("utcTime", ctypes.c_char * 16),
    ]


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip(" \x00")


@dataclass
class RawTokenInfo:
    label: str
    manufacturer: str
    model: str
    serial: str
    flags: int
    pin_min: int | None
    pin_max: int | None
    hardware_version: str
    firmware_version: str


# CK_UNAVAILABLE_INFORMATION / CK_EFFECTIVELY_INFINITE make no sense as lengths.
_UNAVAILABLE = ctypes.c_ulong(-1).value


class RawModule:
    """ctypes view of the already-loaded module (see the module docstring for why)."""

    def __init__(self, path: str) -> None:
        try:
            self._dll = ctypes.CDLL(path)
        except OSError as exc:
            raise Pkcs11ModuleError(path=path, detail=str(exc)) from exc
        d = self._dll
        d.C_GetSlotList.argtypes = [ctypes.c_ubyte, ctypes.POINTER(CK_ULONG),
                                    ctypes.POINTER(CK_ULONG)]
        d.C_GetSlotInfo.argtypes = [CK_ULONG, ctypes.POINTER(CkSlotInfo)]
        d.C_GetTokenInfo.argtypes = [CK_ULONG, ctypes.POINTER(CkTokenInfo)]
        d.C_Login.argtypes = [CK_ULONG, CK_ULONG, ctypes.c_char_p, CK_ULONG]
        d.C_Logout.argtypes = [CK_ULONG]
        d.C_CloseSession.argtypes = [CK_ULONG]
        d.C_GenerateRandom.argtypes = [CK_ULONG, ctypes.c_char_p, CK_ULONG]
        d.C_Finalize.argtypes = [ctypes.c_void_p]
        d.C_Initialize.argtypes = [ctypes.c_void_p]
        for fn in (d.C_GetSlotList, d.C_GetSlotInfo, d.C_GetTokenInfo, d.C_Login, d.C_Logout,
                   d.C_CloseSession, d.C_GenerateRandom, d.C_Finalize, d.C_Initialize):
            fn.restype = CK_ULONG

    def slot_list(self, token_present: bool = True) -> tuple[int, list[int]]:
        """C_GetSlotList: size first (pSlotList NULL), then the list.

        Why the NULL call: OpenSC looks for new readers (a USB token just plugged in) only
        when pSlotList is NULL (pkcs11-global.c C_GetSlotList: sc_ctx_detect_readers() on
        the size query only); a call with a buffer straight away lists the readers known at C_Initialize
        for ever. Both calls re-detect cards, a few ms each — still cheaper than
        python-pkcs11's two calls plus one C_GetSlotInfo per slot.
        """
        present = 1 if token_present else 0
        while True:
            count = CK_ULONG(0)
            rv = int(self._dll.C_GetSlotList(present, None, ctypes.byref(count)))
            if rv != CKR_OK:
                return rv, []
            size = int(count.value)
            if size == 0:
                return rv, []
            buf = (CK_ULONG * size)()
            rv = int(self._dll.C_GetSlotList(present, buf, ctypes.byref(count)))
            if rv == CKR_BUFFER_TOO_SMALL:
                continue  # a reader appeared between the two calls
            if rv != CKR_OK:
                return rv, []
            return rv, [int(buf[i]) for i in range(count.value)]

    def slot_description(self, slot_id: int) -> tuple[int, str]:
        info = CkSlotInfo()
        rv = int(self._dll.C_GetSlotInfo(slot_id, ctypes.byref(info)))
        return rv, _text(info.slotDescription) if rv == CKR_OK else ""

    def token_info(self, slot_id: int) -> tuple[int, RawTokenInfo | None]:
        info = CkTokenInfo()
        rv = self._dll.C_GetTokenInfo(slot_id, ctypes.byref(info))
        if rv != CKR_OK:
            return rv, None

        def length(v: int) -> int | None:
            return None if v == _UNAVAILABLE else int(v)

        return rv, RawTokenInfo(
            label=_text(info.label), manufacturer=_text(info.manufacturerID),
            model=_text(info.model), serial=_text(info.serialNumber), flags=int(info.flags),
            pin_min=length(info.ulMinPinLen), pin_max=length(info.ulMaxPinLen),
            hardware_version=f"{info.hardwareVersion.major}.{info.hardwareVersion.minor}",
            firmware_version=f"{info.firmwareVersion.major}.{info.firmwareVersion.minor}",
        )

    def login(self, session_handle: int, pin: bytearray) -> int:
        """C_Login as the user. `pin` is a mutable buffer the caller wipes afterwards."""
        n = len(pin)
        buf = (ctypes.c_char * max(n, 1)).from_buffer(pin) if n else None
        try:
            return int(self._dll.C_Login(session_handle, CKU_USER,
                                         ctypes.cast(buf, ctypes.c_char_p) if buf else None, n))
        finally:
            del buf

    def logout(self, session_handle: int) -> int:
        return int(self._dll.C_Logout(session_handle))

    def finalize(self) -> int:
        """C_Finalize through ctypes, which releases the GIL during the call.

        Why not python-pkcs11's `lib.finalize()`: python-pkcs11 0.10 calls C_Finalize
        while holding the GIL, and OpenSC's C_Finalize disconnects every card
        (SCardDisconnect waits for pcscd). If pcscd waits on the reader at that moment,
        every Python thread of the process stops with it; with a virtual reader served by
        a Python thread (the test rig) that is a deadlock (seen: a whole test run hung).
        """
        return int(self._dll.C_Finalize(None))

    def initialize(self) -> int:
        """C_Initialize(NULL) through ctypes, as python-pkcs11 does it (its function
        pointers stay valid: the library is the same loaded object)."""
        return int(self._dll.C_Initialize(None))

    def close_session(self, session_handle: int) -> int:
        return int(self._dll.C_CloseSession(session_handle))

    def generate_random(self, session_handle: int, n: int = 8) -> int:
        """C_GenerateRandom: on the ePass2003 one GET CHALLENGE under secure messaging,
        the cheapest call that shows whether this process still owns the card's SM
        session (see `coexistence`). The random bytes are thrown away."""
        buf = ctypes.create_string_buffer(n)
        return int(self._dll.C_GenerateRandom(session_handle, buf, n))
