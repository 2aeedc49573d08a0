"""What the user declined and what trayd put into trust stores and NSS databases.

Why a record: "いいえ" must mean "don't ask again" (by SHA-256 fingerprint), and
`trayd root remove`, `trayd browser unregister` and the package's uninstall must undo
exactly what trayd did — never a certificate or module the user or another program added.
The file is `state_dir()/trust.json`, written atomically; a broken file is set aside
(renamed `.broken`) and treated as empty so the agent keeps working.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from trayd import paths
from trayd.files import FileLock, write_atomic

log = logging.getLogger(__name__)


@dataclass
class InstalledRoot:
    """One root certificate in one NSS database. `previous_trust` is None when trayd
    added the certificate (remove = delete it), else the trust to restore."""

    sha256: str
    subject: str
    database: str
    nickname: str
    previous_trust: str | None = None
    at: str = ""


@dataclass
class RegisteredModule:
    database: str
    name: str
    library: str
    at: str = ""


@dataclass
class SystemRoot:
    sha256: str
    subject: str
    path: str  # the anchor file trayd wrote
    method: str  # "update-ca-certificates" | "p11-kit"
    at: str = ""


@dataclass
class TrustState:
    declined: list[str] = field(default_factory=list)
    roots: list[InstalledRoot] = field(default_factory=list)
    modules: list[RegisteredModule] = field(default_factory=list)
    system: list[SystemRoot] = field(default_factory=list)
    created_databases: list[str] = field(default_factory=list)
    browser_declined: bool = False


def state_file() -> Path:
    return paths.state_dir() / "trust.json"


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def load() -> TrustState:
    path = state_file()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return TrustState(
            declined=[str(x).upper() for x in raw.get("declined", [])],
            roots=[InstalledRoot(**r) for r in raw.get("roots", [])],
            modules=[RegisteredModule(**m) for m in raw.get("modules", [])],
            system=[SystemRoot(**s) for s in raw.get("system", [])],
            created_databases=list(raw.get("created_databases", [])),
            browser_declined=bool(raw.get("browser_declined", False)),
        )
    except FileNotFoundError:
        return TrustState()
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        log.warning("trust state %s unreadable (%s); starting afresh", path, exc)
        try:
            path.replace(path.with_suffix(".broken"))
        except OSError:
            pass
        return TrustState()


def save(state: TrustState) -> None:
    path = state_file()
    write_atomic(path, json.dumps(asdict(state), indent=2, ensure_ascii=False) + "\n")


class Update:
    """`with trust_state.Update() as st: ...` — load, change, save under a `FileLock` on
    `trust.lock`: the agent's threads and the CLI running beside the agent may record an
    install at the same moment (each Update opens its own lock file, so threads of one
    process exclude each other as well as processes)."""

    def __enter__(self) -> TrustState:
        self._lock = FileLock(state_file().with_name("trust.lock"))
        self._lock.acquire()
        try:
            self.state = load()
        except BaseException:
            self._lock.release()
            raise
        return self.state

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                save(self.state)
        finally:
            self._lock.release()


def is_declined(sha256: str) -> bool:
    return sha256.upper() in load().declined


def decline(sha256: str) -> None:
    with Update() as st:
        if sha256.upper() not in st.declined:
            st.declined.append(sha256.upper())


def forget_declined(sha256: str) -> None:
    """Offer the certificate again (the tray menu's "install root certificate…")."""
    with Update() as st:
        st.declined = [d for d in st.declined if d != sha256.upper()]
