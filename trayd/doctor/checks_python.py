"""The Python libraries trayd runs on, with their versions (for bug reports).

Why: the package runs from a venv over Debian's python3-* packages; a missing or broken
one (e.g. python3-pil.imagetk removed by hand) shows up here by name instead of as an
import error deep inside the agent. pystray is not imported: it needs a display.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util

from trayd.doctor import ERROR, OK, WARNING, CheckResult, Context, check
from trayd.i18n import _

# (import name, distribution name, needed for)
REQUIRED = (("smartcard", "pyscard"), ("pkcs11", "python-pkcs11"),
            ("cryptography", "cryptography"))
OPTIONAL = (("PIL", "Pillow"), ("gi", "PyGObject"), ("plyer", "plyer"),
            ("pystray", "pystray"), ("tkinter", "tkinter"))


def _version(module: str, dist: str) -> str | None:
    """The distribution's version if `module` imports (None if it does not)."""
    if module != "pystray":
        importlib.import_module(module)
    elif importlib.util.find_spec("pystray") is None:
        raise ImportError("pystray")
    if module == "tkinter":
        import tkinter

        return str(tkinter.TkVersion)
    for name in (dist, dist.lower(), module):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "?"


@check("python", lambda: _("Python libraries"), order=2)
def python_libraries(ctx: Context) -> CheckResult:
    found, missing_required, missing_optional = [], [], []
    for group, missing in ((REQUIRED, missing_required), (OPTIONAL, missing_optional)):
        for module, dist in group:
            try:
                found.append(f"{dist} {_version(module, dist)}")
            except Exception as exc:  # noqa: BLE001  (ImportError, or a broken C extension)
                missing.append(f"{dist} ({type(exc).__name__})")
    detail = ", ".join(found)
    fix = _("Reinstall trayd ('sudo apt install --reinstall trayd') or, in a source "
            "checkout, run 'make setup'.")
    if missing_required:
        return CheckResult("python", ERROR, _("Missing: {list}").format(
            list=", ".join(missing_required)) + " / " + detail, fix)
    if missing_optional:
        return CheckResult("python", WARNING, _("Missing: {list}").format(
            list=", ".join(missing_optional)) + " / " + detail, fix)
    return CheckResult("python", OK, detail)
