"""Register OpenSC's PKCS#11 module in the user's NSS databases (browsers), and undo it.

Why: Chromium and Firefox on Linux find smart-card certificates only through PKCS#11
modules listed in their NSS database's `pkcs11.txt`. With OpenSC registered, the browser
offers the token's certificate for TLS client authentication and asks for the user PIN
(manual §3.1④–⑦). A database that already reaches OpenSC — the same library under any
name, or p11-kit-proxy with OpenSC in p11-kit's module config — is left alone (a second
copy would show every certificate twice). Only modules trayd added are removed.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from trayd.core import trust_state
from trayd.errors import NssToolError
from trayd.platform import nss

log = logging.getLogger(__name__)

MODULE_NAME = "OpenSC (trayd)"
P11KIT_PROXY = "p11-kit-proxy.so"
P11KIT_MODULE_DIRS = (Path("/usr/share/p11-kit/modules"), Path("/etc/pkcs11/modules"))


def module_path(configured: str = "") -> str:
    """OpenSC's module, as the token core finds it (config key `pkcs11_module`)."""
    from trayd.core.pkcs11_module import find_module

    return find_module(configured)


def _is_opensc(library: str) -> bool:
    return os.path.basename(library).endswith("opensc-pkcs11.so") and \
        not os.path.basename(library).startswith("onepin-")


def p11kit_opensc_enabled(home: Path | None = None) -> bool:
    """True when p11-kit's module config loads OpenSC for p11-kit-proxy."""
    dirs = [*P11KIT_MODULE_DIRS, (Path(home) if home else Path.home()) / ".config/pkcs11/modules"]
    enabled = False
    for d in dirs:
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.module")):
            try:
                text = f.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            conf = {}
            for line in text.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.lstrip().startswith("#"):
                    conf[key.strip()] = value.strip()
            if "opensc-pkcs11" not in conf.get("module", ""):
                continue
            disabled = "p11-kit-proxy" in conf.get("disable-in", "")
            only = conf.get("enable-in")
            if only is not None and "p11-kit-proxy" not in only:
                disabled = True
            enabled = not disabled  # a later (user) file overrides the system one
    return enabled


@dataclass(frozen=True)
class ModuleStatus:
    database: nss.NssDatabase
    state: str  # "registered_by_trayd" | "registered" | "p11-kit-proxy" | "absent"
    module: str | None  # the module's name in pkcs11.txt
    library: str | None

    def to_json(self) -> dict:
        return {**self.database.to_json(), "state": self.state, "module": self.module,
                "library": self.library}


def db_status(db: nss.NssDatabase, home: Path | None = None) -> ModuleStatus:
    ours = {(m.database, m.name) for m in trust_state.load().modules}
    proxy = None
    for mod in nss.list_modules(db):
        if _is_opensc(mod.library):
            state = "registered_by_trayd" if (str(db.path), mod.name) in ours else "registered"
            return ModuleStatus(db, state, mod.name, mod.library)
        if os.path.basename(mod.library) == P11KIT_PROXY:
            proxy = mod
    if proxy is not None and p11kit_opensc_enabled(home):
        return ModuleStatus(db, "p11-kit-proxy", proxy.name, proxy.library)
    return ModuleStatus(db, "absent", None, None)


def status(home: Path | None = None) -> list[ModuleStatus]:
    return [db_status(db, home) for db in nss.find_databases(home)]


def register(library: str | None = None, home: Path | None = None) -> list[ModuleStatus]:
    """Add OpenSC to every database that does not reach it yet (creating `~/.pki/nssdb`
    if Chromium has none); verify each; record what was added. Returns the new status."""
    library = library or module_path()
    dbs, created = nss.ensure_databases(home)
    if created:
        with trust_state.Update() as st:
            if str(created.path) not in st.created_databases:
                st.created_databases.append(str(created.path))
    out = []
    for db in dbs:
        before = db_status(db, home)
        if before.state != "absent":
            out.append(before)
            continue
        out.append(register_in(db, library, home))
    return out


def register_in(db: nss.NssDatabase, library: str, home: Path | None = None) -> ModuleStatus:
    """Add OpenSC to one database that does not reach it yet, record it, verify it."""
    nss.add_module(db, MODULE_NAME, library)
    with trust_state.Update() as st:
        st.modules.append(trust_state.RegisteredModule(
            database=str(db.path), name=MODULE_NAME, library=library,
            at=trust_state.now()))
    after = db_status(db, home)
    if after.state != "registered_by_trayd":
        raise NssToolError(tool="modutil", database=str(db.path),
                           detail=f"{MODULE_NAME!r} not listed after adding it")
    log.info("registered %s in %s", library, db.path)
    return after


def unregister(home: Path | None = None) -> list[tuple[nss.NssDatabase, str]]:
    """Remove the modules trayd added (and only those). Returns (database, outcome)."""
    out = []
    for rec in list(trust_state.load().modules):
        db = nss.NssDatabase(Path(rec.database), "recorded")
        if (db.path / "pkcs11.txt").is_file() and \
                any(m.name == rec.name for m in nss.list_modules(db)):
            nss.delete_module(db, rec.name)
            outcome = "removed"
        else:
            outcome = "gone"
        with trust_state.Update() as st:
            st.modules = [m for m in st.modules
                          if not (m.database == rec.database and m.name == rec.name)]
        out.append((db, outcome))
    return out
