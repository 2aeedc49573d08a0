"""The user's NSS databases (Chromium, Firefox) and thin certutil / modutil wrappers.

Why NSS tools and not a library: `certutil` / `modutil` (libnss3-tools) are what every
Linux distribution ships and what NSS itself guarantees to keep compatible with
`cert9.db` / `pkcs11.txt`, including locking against a running browser. Each wrapper
raises `NssToolError` naming the tool, the database and NSS's own message, so the user
sees which profile failed and why.

Where browsers look is `nss_locations` (each browser's own rules); this module turns
those places into the databases that exist now.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from trayd.errors import NssToolError
from trayd.platform import nss_locations

log = logging.getLogger(__name__)

TOOL_TIMEOUT = 60
NO_PCSCD_SOCKET = "/nonexistent/trayd-nss-tools-must-not-touch-the-token"


@dataclass(frozen=True)
class NssDatabase:
    """One NSS SQL database (a directory holding cert9.db, key4.db, pkcs11.txt)."""

    path: Path
    kind: str  # a key of nss_locations.BROWSERS ("pki", "firefox", "firefox-snap", …)
    profile: str | None = None  # Firefox profile name, when known

    @property
    def spec(self) -> str:
        return f"sql:{self.path}"

    @property
    def browser(self) -> str:
        """The browser this database belongs to ("Firefox", "Chromium/Chrome", …)."""
        return nss_locations.browser_name(self.kind)

    @property
    def display(self) -> str:
        if self.profile:
            return f"{self.browser} {self.profile} ({self.path})"
        return f"{self.browser} ({self.path})"

    def to_json(self) -> dict:
        return {"path": str(self.path), "kind": self.kind, "profile": self.profile,
                "browser": self.browser}


@dataclass(frozen=True)
class NssCert:
    nickname: str
    trust: str  # e.g. "C,,", "CT,C,C", "u,u,u"

    @property
    def ssl_ca_trusted(self) -> bool:
        """Trusted as a CA for TLS servers (the first trust field has C or T)."""
        ssl = self.trust.split(",")[0]
        return "C" in ssl or "T" in ssl


@dataclass(frozen=True)
class NssModule:
    name: str
    library: str  # "" for the internal module


# ---------------------------------------------------------------- discovery

def _home(home: Path | None) -> Path:
    return Path(home) if home else Path.home()


def _is_sql_db(path: Path) -> bool:
    return (path / "cert9.db").is_file()


def find_databases(home: Path | None = None) -> list[NssDatabase]:
    """Every existing user NSS SQL database, Chromium's first. Nothing is created."""
    h = _home(home)
    dbs: list[NssDatabase] = []
    seen: set[Path] = set()

    def add(db: NssDatabase) -> None:
        key = db.path.resolve()
        if key not in seen:
            seen.add(key)
            dbs.append(db)

    for chromium in nss_locations.chromium_dbs(h):
        if _is_sql_db(chromium.path):
            add(NssDatabase(chromium.path, chromium.kind))
    for root in nss_locations.mozilla_roots(h):
        for name, path in nss_locations.mozilla_profiles(root.path):
            if _is_sql_db(path):
                add(NssDatabase(path, root.kind, name))
            elif (path / "cert8.db").is_file():
                log.warning("profile %s has only a legacy cert8.db; skipped", path)
    return dbs


def ensure_databases(home: Path | None = None) -> tuple[list[NssDatabase], NssDatabase | None]:
    """The user's databases, creating `~/.pki/nssdb` when no native Chromium location
    exists (Chromium would create one on first start; the root and the module must be
    there before, and `~/.pki/nssdb` is the one every Chromium version opens).
    Returns (databases, the one created or None)."""
    h = _home(home)
    created = None
    native = [c for c in nss_locations.chromium_dbs(h) if c.kind in ("pki", "pki-xdg")]
    if not any(_is_sql_db(c.path) for c in native):
        path = nss_locations.chromium_default_db(h)
        create_database(path)
        created = NssDatabase(path, "pki")
    return find_databases(h), created


def in_use(db: NssDatabase) -> list[int]:
    """PIDs of the user's processes that hold this database open (a running browser).

    Why /proc and not a lock file: every NSS program (Firefox, Chromium, Thunderbird)
    keeps `cert9.db` / `key4.db` open through SQLite while it runs, whatever its own
    profile lock looks like. Writing beside it is safe (NSS's shared SQL databases lock
    per transaction), but a running browser reads `pkcs11.txt` only at start-up."""
    names = {str(db.path / "cert9.db"), str(db.path / "key4.db")}
    try:
        names |= {str((db.path / "cert9.db").resolve()), str((db.path / "key4.db").resolve())}
    except OSError:
        pass
    pids = []
    me = os.getuid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != me:
                continue
            if any(link in names for link in _fd_links(entry.name)):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _fd_links(pid: str):
    with os.scandir(f"/proc/{pid}/fd") as fds:
        for fd in fds:
            try:
                yield os.readlink(fd.path)
            except OSError:
                continue


# ---------------------------------------------------------------- running the tools

def _run(tool: str, db: NssDatabase | Path | str, args: list[str],
         input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which(tool)
    where = str(db.path if isinstance(db, NssDatabase) else db)
    if not exe:
        raise NssToolError(tool=tool, database=where, detail="missing")
    env = dict(os.environ)
    env.setdefault("NSS_DEFAULT_DB_TYPE", "sql")
    # certutil/modutil load every module in pkcs11.txt. With OpenSC registered that would
    # bind the token (the ePass2003 then re-authenticates its secure-messaging session and
    # can drop the agent's login) just to list certificates. Point libpcsclite at a socket
    # that does not exist: the module loads, sees no readers, touches no card.
    env["PCSCLITE_CSOCK_NAME"] = NO_PCSCD_SOCKET
    try:
        proc = subprocess.run([exe, *args], input=input, capture_output=True,
                              timeout=TOOL_TIMEOUT, env=env,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NssToolError(tool=tool, database=where,
                           detail=f"no answer within {TOOL_TIMEOUT} s") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
        detail = " ".join(detail.split())
        raise NssToolError(tool=tool, database=where, detail=detail or f"exit {proc.returncode}")
    return proc


def certutil(db: NssDatabase, *args: str, input: bytes | None = None,
             check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return _run("certutil", db, ["-d", db.spec, *args], input=input, check=check)


def modutil(db: NssDatabase, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return _run("modutil", db, ["-dbdir", db.spec, *args, "-force"], check=check)


def create_database(path: Path) -> NssDatabase:
    """A new, empty-password NSS SQL database at `path` (what Chromium itself creates)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    db = NssDatabase(path, "pki")
    if not _is_sql_db(path):
        _run("certutil", db, ["-N", "-d", db.spec, "--empty-password"])
    return db


# ---------------------------------------------------------------- certificates

_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def list_certificates(db: NssDatabase) -> list[NssCert]:
    """Certificates in the database's own token (never a hardware token: no card access)."""
    out = certutil(db, "-L", "-h", "internal").stdout.decode("utf-8", "replace")
    certs = []
    lines = out.splitlines()
    # Header: blank, "Certificate Nickname ... Trust Attributes", "SSL,S/MIME,JAR/XPI", blank.
    for line in lines:
        if not line.strip() or line.startswith("Certificate Nickname") \
                or line.strip() == "SSL,S/MIME,JAR/XPI":
            continue
        m = re.match(r"^(.*\S)\s+(\S*,\S*,\S*)\s*$", line)
        if m:
            certs.append(NssCert(m.group(1), m.group(2)))
    return certs


def certificate_ders(db: NssDatabase, nickname: str) -> list[bytes]:
    """DER of every certificate stored under `nickname` (several certs may share one)."""
    import base64

    out = certutil(db, "-L", "-n", nickname, "-a").stdout
    return [base64.b64decode(b"".join(m.split())) for m in _PEM_RE.findall(out)]


def find_by_sha256(db: NssDatabase, sha256_hex: str) -> NssCert | None:
    """The certificate with this SHA-256 fingerprint, with its nickname and trust."""
    import hashlib

    want = normalise_fingerprint(sha256_hex)
    for cert in list_certificates(db):
        for der in certificate_ders(db, cert.nickname):
            if hashlib.sha256(der).hexdigest().upper() == want:
                return cert
    return None


def trust_of(db: NssDatabase, nickname: str) -> str | None:
    for cert in list_certificates(db):
        if cert.nickname == nickname:
            return cert.trust
    return None


def add_certificate(db: NssDatabase, nickname: str, der: bytes, trust: str = "C,,") -> None:
    certutil(db, "-A", "-n", nickname, "-t", trust, input=der)


def set_trust(db: NssDatabase, nickname: str, trust: str) -> None:
    certutil(db, "-M", "-n", nickname, "-t", trust)


def delete_certificate(db: NssDatabase, nickname: str) -> None:
    certutil(db, "-D", "-n", nickname)


def normalise_fingerprint(fp: str) -> str:
    """"ab:cd…" / "ABCD…" / "ab cd" → "ABCD…" (what the CLI accepts from people)."""
    return re.sub(r"[^0-9A-Fa-f]", "", fp).upper()


# ---------------------------------------------------------------- PKCS#11 modules

def list_modules(db: NssDatabase) -> list[NssModule]:
    """Modules registered in `pkcs11.txt`, read directly: `modutil -list` would load every
    module and so touch the token (and its secure-messaging session) just to list names."""
    path = db.path / "pkcs11.txt"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    modules = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() in ("library", "name") and key.strip() not in fields:
                fields[key.strip()] = value.strip()
        if "name" in fields:
            modules.append(NssModule(fields["name"], fields.get("library", "")))
    return modules


def add_module(db: NssDatabase, name: str, library: str) -> None:
    modutil(db, "-add", name, "-libfile", library)


def delete_module(db: NssDatabase, name: str) -> None:
    modutil(db, "-delete", name)


def modutil_list(db: NssDatabase) -> str:
    """`modutil -list` output (loads the modules; tests compare it before/after)."""
    return modutil(db, "-list").stdout.decode("utf-8", "replace")
