"""`trayd cleanup`: undo everything trayd added for the current user (before uninstalling).

Why per user and from the user's own process: trayd writes only into the user's home —
NSS databases (OpenSC module registration, root certificates), `~/.config/autostart`,
`~/.config/systemd/user`, its own config/state/data directories. A package maintainer
script must not go into users' homes, so the package's removal message points here.
What gets undone is exactly what trayd recorded (`trust_state`): a certificate or module
the user or another program added is never touched, and a trust setting trayd changed is
restored rather than deleted. trayd's own files go last and only when every earlier
step worked, so a failed run can simply be repeated.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from trayd import paths
from trayd.errors import TraydError

log = logging.getLogger(__name__)

NSS_FILES = ("cert9.db", "key4.db", "pkcs11.txt")


@dataclass
class Action:
    what: str  # "agent" | "root" | "system_root" | "module" | "database" | "autostart" | "files"
    target: str
    outcome: str  # "removed" | "restored" | "stopped" | "gone" | "kept" | "planned" | "failed"
    detail: str = ""


@dataclass
class Report:
    actions: list[Action] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(a.outcome != "failed" for a in self.actions)

    def add(self, *args: str) -> None:
        self.actions.append(Action(*args))

    def to_json(self) -> dict:
        return {"ok": self.ok, "dry_run": self.dry_run,
                "actions": [asdict(a) for a in self.actions]}


def _agent_pid() -> int | None:
    try:
        pid = int(paths.instance_lock().read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    if not pid or pid == os.getpid():
        return None
    try:
        st = os.stat(f"/proc/{pid}")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if st.st_uid == os.getuid() and b"trayd" in cmdline else None


def stop_agent(report: Report, timeout: float = 10.0) -> None:
    """Stop this session's agent first, so it cannot re-register anything meanwhile."""
    pid = _agent_pid()
    if pid is None:
        return
    if report.dry_run:
        report.add("agent", str(pid), "planned")
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        report.add("agent", str(pid), "gone")
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
                break
        except (OSError, IndexError):
            break
        time.sleep(0.1)
    report.add("agent", str(pid), "stopped")


def remove_roots(report: Report) -> None:
    from trayd.core import trust_state
    from trayd.platform import trust_install

    state = trust_state.load()
    for fp in sorted({r.sha256 for r in state.roots}):
        if report.dry_run:
            for r in state.roots:
                if r.sha256 == fp:
                    report.add("root", f"{r.subject} @ {r.database}", "planned")
            continue
        try:
            for change in trust_install.remove_root(fp):
                outcome = {"trust_restored": "restored"}.get(change.action, change.action)
                report.add("root", f"{change.nickname} @ {change.database.path}", outcome)
        except (TraydError, OSError) as exc:
            report.add("root", fp, "failed", repr(exc))
    for rec in list(state.system):
        if report.dry_run:
            report.add("system_root", rec.path, "planned")
            continue
        try:
            from trayd.platform import system_trust

            system_trust.remove(rec.sha256)
            report.add("system_root", rec.path, "removed")
        except (TraydError, OSError) as exc:
            report.add("system_root", rec.path, "failed", repr(exc))


def remove_modules(report: Report) -> None:
    from trayd.core import trust_state
    from trayd.platform import browser_module

    if report.dry_run:
        for m in trust_state.load().modules:
            report.add("module", f"{m.name} @ {m.database}", "planned")
        return
    try:
        for db, outcome in browser_module.unregister():
            report.add("module", f"{browser_module.MODULE_NAME} @ {db.path}", outcome)
    except (TraydError, OSError) as exc:
        report.add("module", browser_module.MODULE_NAME, "failed", repr(exc))


def remove_created_databases(report: Report) -> None:
    """Databases trayd created (Chromium had none) go if they hold nothing of the user's."""
    from trayd.core import trust_state
    from trayd.platform import nss

    state = trust_state.load()
    for raw in list(state.created_databases):
        path = Path(raw)
        if not (path / "cert9.db").is_file():
            report.add("database", raw, "gone")
            continue
        db = nss.NssDatabase(path, "created")
        try:
            certs = nss.list_certificates(db)
            modules = [m for m in nss.list_modules(db) if m.library]
        except (TraydError, OSError) as exc:
            report.add("database", raw, "failed", repr(exc))
            continue
        if report.dry_run:  # what trayd itself put there is about to go
            ours_certs = {r.nickname for r in state.roots
                          if r.database == raw and r.previous_trust is None}
            ours_mods = {m.name for m in state.modules if m.database == raw}
            certs = [c for c in certs if c.nickname not in ours_certs]
            modules = [m for m in modules if m.name not in ours_mods]
        if certs or modules:
            report.add("database", raw, "kept", "not empty")
            continue
        if report.dry_run:
            report.add("database", raw, "planned")
            continue
        for name in NSS_FILES:
            (path / name).unlink(missing_ok=True)
        try:
            path.rmdir()
        except OSError:
            pass  # other files of the user's remain
        report.add("database", raw, "removed")


def remove_autostart(report: Report) -> None:
    from trayd.platform import autostart

    if report.dry_run:
        for p in (autostart.unit_link_path(), autostart.user_unit_dir() / autostart.UNIT_NAME,
                  autostart.user_entry_path()):
            if (p.is_symlink() or p.exists()) and autostart.is_ours(p):
                report.add("autostart", str(p), "planned")
        return
    for p in autostart.remove_user_files():
        report.add("autostart", str(p), "removed")


def own_directories(keep_config: bool) -> list[Path]:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / paths.APP
    dirs = [paths.state_dir(), paths.data_dir(), cache]
    if not keep_config:
        dirs.append(paths.config_dir())
    return dirs


def remove_own_files(report: Report, keep_config: bool) -> None:
    if not report.ok:
        for d in own_directories(keep_config):
            if d.exists():
                report.add("files", str(d), "kept", "an earlier step failed; run again")
        return
    for d in own_directories(keep_config):
        if not d.exists():
            continue
        if report.dry_run:
            report.add("files", str(d), "planned")
            continue
        shutil.rmtree(d, ignore_errors=True)
        report.add("files", str(d), "removed" if not d.exists() else "failed")


def cleanup(dry_run: bool = False, keep_config: bool = False) -> Report:
    report = Report(dry_run=dry_run)
    stop_agent(report)
    remove_roots(report)
    remove_modules(report)
    remove_created_databases(report)
    remove_autostart(report)
    remove_own_files(report, keep_config)
    return report
