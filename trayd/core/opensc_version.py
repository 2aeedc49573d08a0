"""OpenSC's behaviour by version: the one place trayd, the emulator and the tests ask.

Why one place: Debian 12 ships OpenSC 0.23.0, Debian 13 0.26.1, Ubuntu 24.04 0.25.0~rc1;
what the ePass2003 looks like through PKCS#11 differs between them, and the difference
follows OpenSC's version, never the distribution's name. Each rule names the upstream
change it comes from (OpenSC git):

- token label: "<TokenInfo label> (<PIN label>)" until 0.25; from 0.26 (259decf6) the
  PIN label is appended only when the card has several PIN slots. Since 0.24 (14381ddc)
  every ':' in the token label becomes '.' (NSS uses ':' as its separator).
- DES secure messaging: 0.23 does single DES through OpenSSL's default library context,
  so OpenSSL 3 needs the legacy provider activated (openssl.cnf); 0.24+ loads it in a
  library context of its own.
- change PIN: from 0.24 (e58bca0a) the ePass2003 driver verifies the old PIN inside
  C_SetPIN; 0.23 does not check it at all. trayd verifies it itself first on every
  version, so a wrong current PIN costs exactly one try on both.
- another process's SM session (a plain 6988): 0.23 re-authenticates and resends the
  command; 0.24+ fails it (see core/coexistence.py).
- secure memory: from 0.20 (ea6f7cfe1) `sc_mem_secure_alloc` mlock()s a calloc()ed
  buffer rounded up to whole pages and `sc_mem_secure_free` munlock()s only the length
  asked for. Where calloc() is not page-aligned (Chromium's PartitionAlloc) a page of
  the application's heap stays locked, and Chromium crashes when it later discards that
  page (OpenSC#3267). Fixed in 0.26.1 (0690bcc27, a cherry-pick of 774d1e1d1 in 0.27.0:
  whole pages from mmap()).
- logout: 0.23's ePass2003 driver has no logout, and from 0.24 (42d3a670,
  SW_PIN_LOGOUT_ONLY) C_Logout only clears OpenSC's own PIN state: either way the card
  stays verified. Checked up to 0.27.1; a later version is assumed to behave the same
  until shown otherwise (re-initialising costs a second, a verified card costs a key).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

Version = tuple[int, int, int]

_VERSION_RE = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def parse(text: str) -> Version | None:
    """The first "X.Y.Z" in `text` ("0.26.1", "OpenSC 0.23.0 [gcc ...]", "0.23.0-0.3+deb12u2")."""
    m = _VERSION_RE.search(text or "")
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _from_library() -> Version | None:
    """sc_get_version() of libopensc, the library opensc-pkcs11.so is built on."""
    for name in (ctypes.util.find_library("opensc"), "libopensc.so.12", "libopensc.so.11",
                 "libopensc.so.8", "libopensc.so.7"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.sc_get_version.restype = ctypes.c_char_p
            return parse((lib.sc_get_version() or b"").decode())
        except (OSError, AttributeError):
            continue
    return None


def _from_commands() -> Version | None:
    for argv in (["opensc-tool", "--info"],
                 ["dpkg-query", "-W", "-f=${Version}", "opensc-pkcs11"]):
        if not shutil.which(argv[0]):
            continue
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                                 stdin=subprocess.DEVNULL).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = parse(out)
        if version:
            return version
    return None


@cache
def installed() -> Version | None:
    """The installed OpenSC's version (None if OpenSC is not installed)."""
    return _from_library() or _from_commands()


def text(version: Version | None) -> str:
    return ".".join(map(str, version)) if version else "?"


@dataclass(frozen=True)
class Behaviour:
    """What OpenSC `version` does with an ePass2003 (see the module docstring)."""

    version: Version

    def appends_pin_label(self, pin_slots: int = 1) -> bool:
        return self.version < (0, 26, 0) or pin_slots > 1

    @property
    def colons_become_dots(self) -> bool:
        return self.version >= (0, 24, 0)

    @property
    def des_needs_legacy_provider(self) -> bool:
        return self.version < (0, 24, 0)

    @property
    def set_pin_verifies_old_pin(self) -> bool:
        return self.version >= (0, 24, 0)

    @property
    def logout_leaves_card_verified(self) -> bool:
        return self.version >= (0, 23, 0)

    @property
    def recovers_from_sm_collision(self) -> bool:
        """A plain 6988 (another process took the SM session): 0.23 re-authenticates and
        resends; 0.24+ checks the response MAC and fails (core/coexistence.py)."""
        return self.version < (0, 24, 0)

    @property
    def card_reset_is_safe(self) -> bool:
        """Whether other OpenSC processes survive a card reset with SM on. 0.23's `sc_lock`
        re-opens secure messaging while it still holds `card->mutex`: an application that
        gave OpenSC locking functions (NSS: Firefox, Chromium) deadlocks in its next
        C_Sign (seen with gdb: sc_lock -> sm open -> sc_transmit_apdu -> sc_lock -> mutex).
        0.24.0 releases the mutex first (upstream d449feeda "fixed race conditions in
        sc_lock()")."""
        return self.version >= (0, 24, 0)

    @property
    def hands_card_back_by_reset(self) -> bool:
        """trayd resets the card after its own work only where other processes need it
        (they cannot recover from the SM collision) and survive it (see above): 0.24+.
        On 0.23 they re-authenticate by themselves and a reset would hang a browser."""
        return not self.recovers_from_sm_collision and self.card_reset_is_safe

    @property
    def secure_alloc_locks_foreign_pages(self) -> bool:
        """OpenSC#3267 (see the module docstring): the versions whose PIN and signature
        buffers leave pages of the host application's heap mlock()ed. Measured on Debian
        12 (0.23.0, Chromium 156, strace): `mlock(0x…a400, 4096) = 0`, `munlock(0x…a400,
        32)`, then Chromium's `madvise(…, MADV_DONTNEED) = -1 EINVAL` and SIGTRAP, in 5 of
        13 browser test runs (as root and as an unprivileged process); none in the runs
        with RLIMIT_MEMLOCK 0 (every mlock fails with EPERM, nothing stays locked)."""
        return self.version < (0, 26, 1)

    def token_label(self, label: str, pin_label: str = "User PIN", pin_slots: int = 1) -> str:
        """The PKCS#11 token label OpenSC builds (framework-pkcs15.c, pkcs15_init_slot).

        With the PIN label appended: "<label> (<PIN label>)", the label cut so the whole
        fits 32 bytes; only the PIN label when there is no token label. Never appended when
        the PIN label is empty or exactly "PIN".
        """
        if not pin_label or pin_label == "PIN" or not self.appends_pin_label(pin_slots):
            result = _strcpy_bp(label, 32).rstrip()
        else:
            pl = len(pin_label.encode())
            if not label or pl + len("L... ()") > 32:
                result = _strcpy_bp(pin_label, 32).rstrip()
            else:
                keep = min(len(label.encode()), 32 - pl - 3)
                result = f"{_strcpy_bp(label, keep)} ({pin_label})"
        return result.replace(":", ".") if self.colons_become_dots else result


def _strcpy_bp(value: str, size: int) -> str:
    """OpenSC's strcpy_bp: a text longer than `size` bytes is cut and ends in '...'."""
    raw = value.encode()
    if len(raw) > size:
        raw = raw[:size]
        if size > 3:
            raw = raw[:size - 3] + b"..."
    return raw.decode(errors="replace")


def behaviour(version: Version | None = None) -> Behaviour:
    """The behaviour of `version`, by default of the installed OpenSC.

    Unknown (OpenSC not installed): the oldest supported, 0.23.0, whose rules are the
    most cautious (trayd verifies old PINs and re-initialises on logout either way).
    """
    return Behaviour(version or installed() or (0, 23, 0))
