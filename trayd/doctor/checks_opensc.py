"""OpenSC: the PKCS#11 module is found and loads; OpenSSL's legacy provider for DES tokens.

Why the legacy provider: OpenSC 0.23's ePass2003 driver does the secure-messaging
session of older (DES-mode) tokens with single DES through OpenSSL; with OpenSSL 3 that
cipher lives in the legacy provider, and without it the module crashes on such a token.
AES-mode tokens and OpenSC >= 0.24 do not need it (core/opensc_version.py), so a missing
provider is a warning, and with 0.24+ the check is skipped.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import re
import resource
from pathlib import Path

from trayd.doctor import ERROR, OK, SKIPPED, WARNING, CheckResult, Context, check
from trayd.i18n import _

OPENSSL_INIT_LOAD_CONFIG = 0x00000040
OPENSSL_MODULES_DIR = 8  # OpenSSL_version() type (opensslv.h), OpenSSL 3.0+


@check("opensc_module", lambda: _("OpenSC PKCS#11 module"), order=40)
def opensc_module(ctx: Context) -> CheckResult:
    from trayd.core.pkcs11_module import find_module
    from trayd.errors import Pkcs11ModuleError

    fix = _("Install OpenSC's module: 'sudo apt install opensc-pkcs11' (or set "
            "pkcs11_module in ~/.config/trayd/config.toml).")
    try:
        path = find_module(ctx.cfg.pkcs11_module)
    except Pkcs11ModuleError as err:
        return CheckResult("opensc_module", ERROR, f"{err.path}: {err.detail}", fix)
    try:
        lib = ctypes.CDLL(path)
        lib.C_GetFunctionList  # noqa: B018  (a PKCS#11 module exports it)
    except (OSError, AttributeError) as exc:
        return CheckResult("opensc_module", ERROR, _("{path} does not load: {error}").format(
            path=path, error=exc), fix)
    ctx.facts["opensc_module"] = path
    version = opensc_version()
    ctx.facts["opensc_version"] = version
    detail = path + (f" (OpenSC {'.'.join(map(str, version))})" if version else "")
    return CheckResult("opensc_module", OK, detail)


def opensc_version() -> tuple[int, ...] | None:
    """The installed OpenSC's version (core/opensc_version.py asks the library itself)."""
    from trayd.core import opensc_version as ov

    return ov.installed()


def _libcrypto() -> ctypes.CDLL | None:
    for name in ("libcrypto.so.3", ctypes.util.find_library("crypto")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def legacy_provider_state() -> tuple[bool | None, bool | None, str]:
    """(module file present, active with the default config, OpenSSL version text)."""
    lib = _libcrypto()
    if lib is None:
        return None, None, ""
    try:
        lib.OpenSSL_version.restype = ctypes.c_char_p
        lib.OpenSSL_version.argtypes = [ctypes.c_int]
        version = (lib.OpenSSL_version(0) or b"").decode()
        if not version.startswith("OpenSSL 3"):
            return None, None, version
        raw = (lib.OpenSSL_version(OPENSSL_MODULES_DIR) or b"").decode()
        m = re.search(r'"([^"]+)"', raw)
        import os

        moddir = os.environ.get("OPENSSL_MODULES") or (m.group(1) if m else "")
        present = bool(moddir) and os.path.isfile(os.path.join(moddir, "legacy.so"))
        lib.OPENSSL_init_crypto.argtypes = [ctypes.c_uint64, ctypes.c_void_p]
        lib.OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, None)
        lib.OSSL_PROVIDER_available.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        active = bool(lib.OSSL_PROVIDER_available(None, b"legacy"))
        return present, active, version
    except AttributeError:
        return None, None, ""


@check("openssl_legacy", lambda: _("OpenSSL legacy provider (DES-mode tokens)"), order=50)
def openssl_legacy(ctx: Context) -> CheckResult:
    from trayd.core.opensc_version import behaviour

    version = ctx.facts.get("opensc_version") or opensc_version()
    if version and not behaviour(version).des_needs_legacy_provider:
        return CheckResult("openssl_legacy", SKIPPED, _(
            "Not needed with OpenSC {version}.").format(version=".".join(map(str, version))))
    present, active, ossl = legacy_provider_state()
    if present is None:
        return CheckResult("openssl_legacy", SKIPPED, _("Not needed with {openssl}.").format(
            openssl=ossl or "OpenSSL < 3"))
    fix = _("Older ePass2003 tokens (DES secure messaging) need OpenSSL's legacy provider "
            "with OpenSC 0.23: activate 'legacy' next to 'default' in /etc/ssl/openssl.cnf "
            "([provider_sect]), or update OpenSC to 0.24 or later. AES-mode tokens work "
            "without it.")
    if active:
        return CheckResult("openssl_legacy", OK, _("{openssl}: legacy provider active.").format(
            openssl=ossl))
    if present:
        return CheckResult("openssl_legacy", WARNING, _(
            "{openssl}: the legacy provider is installed but not activated.").format(
            openssl=ossl), fix)
    return CheckResult("openssl_legacy", WARNING, _(
        "{openssl}: the legacy provider is not installed.").format(openssl=ossl), fix)


# Chromium and OpenSC < 0.26.1 (OpenSC#3267, core/opensc_version.py): OpenSC leaves pages of
# Chromium's heap mlock()ed and Chromium crashes when it gives them back. With
# RLIMIT_MEMLOCK 0 an unprivileged process's mlock() fails (EPERM) and OpenSC goes on
# without it, so nothing stays locked (measured: no crash in the browser tests). Debian's
# /usr/bin/chromium sources every file in /etc/chromium.d/ before it starts Chromium.
# The trayd package installs /etc/chromium.d/trayd-opensc-mlock (packaging/chromium.d/),
# which does that while opensc-pkcs11 is older than 0.26.1; the fix below is for other
# installs.
CHROMIUM_D = Path("/etc/chromium.d")
_ULIMIT_L0 = re.compile(r"^\s*ulimit\s+(?:-[HS]+\s+)?-l\s+0\s*(?:#.*)?$", re.MULTILINE)


def chromium_memlock_snippet(directory: Path = CHROMIUM_D) -> Path | None:
    """A file in `directory` that Debian's launcher sources and that sets
    RLIMIT_MEMLOCK to 0 (the launcher skips README and dpkg's leftovers)."""
    try:
        files = sorted(directory.iterdir())
    except OSError:
        return None
    for f in files:
        if f.name == "README" or ".dpkg" in f.name or not f.is_file():
            continue
        try:
            if _ULIMIT_L0.search(f.read_text(errors="replace")):
                return f
        except OSError:
            continue
    return None


@check("chromium_opensc_mlock", lambda: _("Chromium with OpenSC (OpenSC#3267)"), order=55)
def chromium_opensc_mlock(ctx: Context) -> CheckResult:
    from trayd.core.opensc_version import behaviour, text
    from trayd.platform.nss_locations import installed_browsers

    name = "chromium_opensc_mlock"
    version = ctx.facts.get("opensc_version") or opensc_version()
    if not version or not behaviour(version).secure_alloc_locks_foreign_pages:
        return CheckResult(name, SKIPPED, _("Not affected with OpenSC {version}.").format(
            version=text(version)))
    if not any(b.family == "chromium" for b in installed_browsers(Path.home())):
        return CheckResult(name, SKIPPED, _("Chromium is not installed."))
    if resource.getrlimit(resource.RLIMIT_MEMLOCK)[0] == 0:
        return CheckResult(name, OK, _("Locked memory is limited to 0 in this session."))
    snippet = chromium_memlock_snippet()
    if snippet:
        return CheckResult(name, OK, _("{file} limits Chromium's locked memory to 0.").format(
            file=snippet))
    return CheckResult(name, WARNING, _(
        "OpenSC {version} makes Chromium crash now and then after it used the token "
        "(OpenSC bug #3267, fixed in 0.26.1).").format(version=text(version)), _(
        "Create /etc/chromium.d/opensc-mlock containing the line 'ulimit -l 0' "
        "(for example: echo 'ulimit -l 0' | sudo tee /etc/chromium.d/opensc-mlock), then "
        "restart Chromium; or update OpenSC to 0.26.1 or later."))
