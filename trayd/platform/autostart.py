"""Starting the agent at login, for the current user: XDG autostart or a systemd user unit.

Why two ways, and why files instead of `systemctl`: every desktop reads XDG autostart
entries (`/etc/xdg/autostart/trayd-autostart.desktop`, shipped by the package); a systemd
user unit (`trayd.service`, `WantedBy=graphical-session.target`) gives supervision and the
journal. Only one may start the agent: enabling the unit also writes a per-user
`Hidden=true` override of the XDG entry (the autostart spec's way to switch a system entry
off; the entry's `AutostartCondition=unless-exists …` covers users who enable the unit with
`systemctl` by hand), and the agent's single-instance lock stops a second copy anyway.
`systemctl --user enable` only creates the `graphical-session.target.wants` symlink; doing
that ourselves works without a running user manager (tests, SSH sessions) and is what
`status` reads back. Everything trayd writes carries a marker, so `disable` and
`trayd cleanup` delete only trayd's own files.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from trayd import paths
from trayd.files import write_atomic

ENTRY_NAME = "trayd-autostart.desktop"
UNIT_NAME = "trayd.service"
TARGET_WANTS = "graphical-session.target.wants"
MARKER_KEY = "X-trayd-Generated"
UNIT_MARKER = "# Written by `trayd autostart enable --systemd`"
SYSTEM_UNIT_DIRS = (Path("/etc/systemd/user"), Path("/usr/local/lib/systemd/user"),
                    Path("/usr/lib/systemd/user"))


def _config_home() -> Path:
    return paths.config_dir().parent


def config_dirs() -> list[Path]:
    """$XDG_CONFIG_DIRS (default /etc/xdg), where system autostart entries live."""
    raw = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    return [Path(p) for p in raw.split(":") if p and os.path.isabs(p)]


def system_entry() -> Path | None:
    for d in config_dirs():
        p = d / "autostart" / ENTRY_NAME
        if p.is_file():
            return p
    return None


def user_entry_path() -> Path:
    return _config_home() / "autostart" / ENTRY_NAME


def user_unit_dir() -> Path:
    return _config_home() / "systemd" / "user"


def unit_link_path() -> Path:
    return user_unit_dir() / TARGET_WANTS / UNIT_NAME


def system_unit() -> Path | None:
    for d in SYSTEM_UNIT_DIRS:
        if (d / UNIT_NAME).is_file():
            return d / UNIT_NAME
    return None


def globally_enabled_unit() -> Path | None:
    """An administrator's `systemctl --global enable trayd.service`."""
    p = Path("/etc/systemd/user") / TARGET_WANTS / UNIT_NAME
    return p if p.exists() else None


def read_entry(path: Path) -> dict[str, str]:
    """The [Desktop Entry] group of a desktop file (keys as written, values raw)."""
    values: dict[str, str] = {}
    group = None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            group = line
            continue
        if group == "[Desktop Entry]" and "=" in line:
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), value.strip())
    return values


def entry_enabled(values: dict[str, str]) -> bool:
    return bool(values) and values.get("Hidden", "false").lower() != "true" and \
        values.get("X-GNOME-Autostart-enabled", "true").lower() != "false"


def is_ours(path: Path) -> bool:
    """A file trayd wrote (and may delete): a marked entry, unit or our unit symlink."""
    if path.is_symlink():
        return path.name == UNIT_NAME
    if not path.is_file():
        return False
    if path.suffix == ".desktop":
        return read_entry(path).get(MARKER_KEY, "").lower() == "true"
    try:
        return UNIT_MARKER in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def trayd_command() -> list[str]:
    """How this trayd is started: /usr/bin/trayd when installed, else this interpreter."""
    installed = shutil.which("trayd")
    argv0 = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if argv0 and argv0.name == "trayd" and os.access(argv0, os.X_OK):
        return [str(argv0)]
    if installed:
        return [installed]
    return [sys.executable, "-m", "trayd"]


def _exec_line(argv: list[str]) -> str:
    """Desktop-entry Exec quoting: double quotes around arguments with reserved chars."""
    out = []
    for a in argv:
        if any(c in a for c in " \t\"'\\><~|&;$*?#()`"):
            a = '"' + a.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`") \
                .replace("$", "\\$") + '"'
        out.append(a)
    return " ".join(out)


@dataclass
class AutostartStatus:
    method: str  # "xdg" | "systemd" | "both" | "none"
    xdg_enabled: bool
    systemd_enabled: bool
    system_entry: str | None
    user_entry: str | None
    unit: str | None
    unit_link: str | None

    def to_json(self) -> dict:
        return asdict(self)


def status() -> AutostartStatus:
    sys_entry = system_entry()
    user = user_entry_path()
    effective = user if user.is_file() else sys_entry
    link = unit_link_path()
    link_ok = link.is_symlink() and link.exists() or link.is_file()
    systemd_on = bool(link_ok or globally_enabled_unit())
    xdg_on = effective is not None and entry_enabled(read_entry(effective))
    # GNOME (and systemd's generator) skip the packaged entry when the unit link exists.
    if xdg_on and systemd_on and effective == sys_entry and "unless-exists" in \
            read_entry(effective).get("AutostartCondition", ""):
        xdg_on = False
    method = "both" if xdg_on and systemd_on else "xdg" if xdg_on else \
        "systemd" if systemd_on else "none"
    unit = link.resolve() if link_ok else system_unit()
    return AutostartStatus(
        method=method, xdg_enabled=xdg_on, systemd_enabled=systemd_on,
        system_entry=str(sys_entry) if sys_entry else None,
        user_entry=str(user) if user.is_file() else None,
        unit=str(unit) if unit else None,
        unit_link=str(link) if link_ok else None,
    )


def _write(path: Path, text: str) -> None:
    write_atomic(path, text, mode=0o644)


def _entry_text(hidden: bool) -> str:
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Name=ePass2003 Token Agent",
        "Name[ja]=USB トークン(ePass2003)エージェント",
        f"Exec={_exec_line([*trayd_command(), 'run'])}",
        "Icon=trayd",
        "Terminal=false",
        "NoDisplay=true",
    ]
    if hidden:
        lines.append("Hidden=true")
    else:
        lines.append(f"AutostartCondition=unless-exists systemd/user/{TARGET_WANTS}/{UNIT_NAME}")
    lines.append(f"{MARKER_KEY}=true")
    return "\n".join(lines) + "\n"


def _unit_text() -> str:
    return (
        f"{UNIT_MARKER} (no packaged unit was found).\n"
        "[Unit]\nDescription=trayd agent for the ePass2003 USB token\n"
        "PartOf=graphical-session.target\nAfter=graphical-session.target\n\n"
        f"[Service]\nType=simple\nExecStart={shlex.join([*trayd_command(), 'run'])}\n"
        "Restart=on-failure\nRestartSec=5\n\n"
        "[Install]\nWantedBy=graphical-session.target\n"
    )


def _remove_user_entry() -> None:
    p = user_entry_path()
    if p.exists() and is_ours(p):
        p.unlink()


def _systemd_reload() -> None:
    """Tell a running user manager about the change; without one there is nothing to do."""
    if not shutil.which("systemctl"):
        return
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if not runtime or not Path(runtime, "systemd", "private").exists():
        return
    try:
        subprocess.run(["systemctl", "--user", "daemon-reload"], capture_output=True,
                       timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _disable_unit() -> None:
    link = unit_link_path()
    if link.is_symlink() or link.exists():
        link.unlink()
    own_unit = user_unit_dir() / UNIT_NAME
    if own_unit.is_file() and is_ours(own_unit):
        own_unit.unlink()
    _systemd_reload()


def enable(systemd: bool = False) -> AutostartStatus:
    """Start the agent at login: by the XDG entry (default) or by the systemd user unit."""
    if systemd:
        unit = system_unit()
        if unit is None:
            unit = user_unit_dir() / UNIT_NAME
            _write(unit, _unit_text())
        link = unit_link_path()
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(unit)
        if system_entry() is not None or user_entry_path().exists():
            _write(user_entry_path(), _entry_text(hidden=True))
        _systemd_reload()
        return status()
    _disable_unit()
    _remove_user_entry()
    sys_entry = system_entry()
    if sys_entry is None or not entry_enabled(read_entry(sys_entry)):
        _write(user_entry_path(), _entry_text(hidden=False))
    return status()


def disable() -> AutostartStatus:
    """Start nothing at login: no unit link, and a Hidden=true override of the XDG entry."""
    _disable_unit()
    if system_entry() is not None:
        _write(user_entry_path(), _entry_text(hidden=True))
    else:
        _remove_user_entry()
    return status()


def remove_user_files() -> list[Path]:
    """`trayd cleanup`: delete every autostart file trayd wrote for this user."""
    removed = []
    for p in (unit_link_path(), user_unit_dir() / UNIT_NAME, user_entry_path()):
        if (p.is_symlink() or p.exists()) and is_ours(p):
            p.unlink()
            removed.append(p)
    if removed:
        _systemd_reload()
    # Empty directories trayd may have created; rmdir leaves anything non-empty alone.
    for d in (unit_link_path().parent, user_unit_dir(), user_unit_dir().parent,
              user_entry_path().parent):
        try:
            d.rmdir()
        except OSError:
            pass
    return removed
