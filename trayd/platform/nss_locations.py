"""Where each browser keeps its NSS databases today, by that browser's own rules.

Why its own module: the rules change with browser releases and packaging formats, and
three callers need the same answer — registration (`browser register`, `root install`),
the reports (`browser status`, `root status`, `doctor`) and the agent's watcher, which
must know which directories to watch before any profile exists.

The rules (measured on Debian 12/13, Firefox ESR 153, Chromium 156):
- Firefox / Thunderbird read `profiles.ini` (and `installs.ini`, whose `Default=` names
  the profile an installation uses) in their profile root; `Path=` is relative to the
  root unless `IsRelative=0`. Firefox ≥ 147 (ESR 153 included) puts a *new* root at
  `$XDG_CONFIG_HOME/mozilla/firefox` (default `~/.config/mozilla/firefox`) unless the
  legacy `~/.mozilla/firefox` exists, which it keeps using (an empty `~/.mozilla` alone
  does not count). Both are looked at. Snap
  Firefox lives in `~/snap/firefox/common/.mozilla/firefox`, Flatpak Firefox in
  `~/.var/app/org.mozilla.firefox/` (its `.mozilla` and its private `config`).
  Thunderbird's legacy root is `~/.thunderbird` (its XDG one is not verified here).
- A profile Firefox lists but never started has no `cert9.db` yet: not a database.
- Chromium (and Chrome, Edge, most NSS programs) use `~/.pki/nssdb`; Chromium ≥ 146
  uses `$XDG_DATA_HOME/pki/nssdb` instead when `~/.pki` does not exist. Snap Chromium
  keeps its own HOME under `~/snap/chromium/current`, Flatpak under `~/.var/app/…`.
"""
from __future__ import annotations

import configparser
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MozillaRoot:
    """A directory that holds (or will hold) a Mozilla application's profiles."""

    kind: str  # NssDatabase.kind of its profiles
    path: Path


@dataclass(frozen=True)
class ChromiumDb:
    kind: str
    path: Path


# kind → (browser family, human name). The family ties databases to installed programs.
BROWSERS: dict[str, tuple[str, str]] = {
    "pki": ("chromium", "Chromium/Chrome"),
    "pki-xdg": ("chromium", "Chromium"),
    "chromium-snap": ("chromium-snap", "Chromium (snap)"),
    "chromium-flatpak": ("chromium-flatpak", "Chromium (Flatpak)"),
    "firefox": ("firefox", "Firefox"),
    "firefox-snap": ("firefox-snap", "Firefox (snap)"),
    "firefox-flatpak": ("firefox-flatpak", "Firefox (Flatpak)"),
    "thunderbird": ("thunderbird", "Thunderbird"),
    "thunderbird-snap": ("thunderbird-snap", "Thunderbird (snap)"),
    "thunderbird-flatpak": ("thunderbird-flatpak", "Thunderbird (Flatpak)"),
}


def browser_name(kind: str) -> str:
    return BROWSERS.get(kind, ("", kind))[1]


def _xdg(var: str, default: str, home: Path) -> Path:
    """An XDG base directory; the environment's value counts only for the real HOME."""
    value = os.environ.get(var)
    if value and os.path.isabs(value) and home == Path.home():
        return Path(value)
    return home / default


def mozilla_roots(home: Path) -> list[MozillaRoot]:
    """Every profile root, in the order a report lists them (native legacy first)."""
    cfg = _xdg("XDG_CONFIG_HOME", ".config", home)
    ff_flat = home / ".var/app/org.mozilla.firefox"
    tb_flat = home / ".var/app/org.mozilla.Thunderbird"
    return [
        MozillaRoot("firefox", home / ".mozilla/firefox"),
        MozillaRoot("firefox", cfg / "mozilla/firefox"),
        MozillaRoot("firefox-snap", home / "snap/firefox/common/.mozilla/firefox"),
        MozillaRoot("firefox-flatpak", ff_flat / ".mozilla/firefox"),
        MozillaRoot("firefox-flatpak", ff_flat / "config/mozilla/firefox"),
        MozillaRoot("thunderbird", home / ".thunderbird"),
        MozillaRoot("thunderbird", cfg / "thunderbird"),
        MozillaRoot("thunderbird-snap", home / "snap/thunderbird/common/.thunderbird"),
        MozillaRoot("thunderbird-flatpak", tb_flat / ".thunderbird"),
    ]


def chromium_dbs(home: Path) -> list[ChromiumDb]:
    data = _xdg("XDG_DATA_HOME", ".local/share", home)
    flat = home / ".var/app/org.chromium.Chromium"
    return [
        ChromiumDb("pki", home / ".pki/nssdb"),
        ChromiumDb("pki-xdg", data / "pki/nssdb"),
        ChromiumDb("chromium-snap", home / "snap/chromium/current/.pki/nssdb"),
        ChromiumDb("chromium-flatpak", flat / ".pki/nssdb"),
        ChromiumDb("chromium-flatpak", flat / "data/pki/nssdb"),
    ]


def chromium_default_db(home: Path) -> Path:
    """The database Chromium itself would open: `~/.pki/nssdb` when `~/.pki` exists
    (every Chromium), else the XDG one (Chromium ≥ 146). trayd creates `~/.pki/nssdb`
    when there is none, which every Chromium version then uses."""
    return home / ".pki/nssdb"


def _read_ini(path: Path) -> configparser.RawConfigParser | None:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # keep "Path", "IsRelative" as written
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError, OSError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    return parser


def _profile_path(root: Path, raw: str, relative: bool) -> Path:
    return (root / raw) if relative else Path(raw)


def mozilla_profiles(root: Path) -> list[tuple[str, Path]]:
    """(name, dir) of each profile of a root: `profiles.ini` [Profile*] entries, the
    `Default=` of each installation (`installs.ini`, `profiles.ini` [Install*]), then any
    other directory with a `cert9.db` (profiles made by hand or by older installers)."""
    found: dict[Path, str] = {}
    ini = _read_ini(root / "profiles.ini") if (root / "profiles.ini").is_file() else None
    if ini is not None:
        for section in ini.sections():
            if section.startswith("Profile") and ini.has_option(section, "Path"):
                relative = ini.get(section, "IsRelative", fallback="1").strip() != "0"
                path = _profile_path(root, ini.get(section, "Path").strip(), relative)
                found.setdefault(path, ini.get(section, "Name", fallback=path.name))
    installs: list[configparser.RawConfigParser] = []
    if ini is not None:
        installs.append(ini)
    if (root / "installs.ini").is_file():
        extra = _read_ini(root / "installs.ini")
        if extra is not None:
            installs.append(extra)
    for parser in installs:
        for section in parser.sections():
            if section.startswith(("Profile", "General")) or \
                    not parser.has_option(section, "Default"):
                continue
            raw = parser.get(section, "Default").strip()
            path = Path(raw) if os.path.isabs(raw) else root / raw
            found.setdefault(path, path.name)
    if root.is_dir():
        try:
            children = sorted(root.iterdir())
        except OSError:
            children = []
        for child in children:
            if child.is_dir() and (child / "cert9.db").is_file():
                found.setdefault(child, child.name)
    return [(name, path) for path, name in found.items()]


# ---------------------------------------------------------------- installed programs

# family → how to tell it is installed: executables on PATH, or an app directory.
_PROGRAMS: dict[str, tuple[str, ...]] = {
    "firefox": ("firefox-esr", "firefox"),
    "thunderbird": ("thunderbird",),
    "chromium": ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                 "microsoft-edge"),
}
_APP_DIRS: dict[str, tuple[str, ...]] = {
    "firefox-snap": ("/snap/firefox",),
    "thunderbird-snap": ("/snap/thunderbird",),
    "chromium-snap": ("/snap/chromium",),
    "firefox-flatpak": ("/var/lib/flatpak/app/org.mozilla.firefox",
                        "~/.local/share/flatpak/app/org.mozilla.firefox"),
    "thunderbird-flatpak": ("/var/lib/flatpak/app/org.mozilla.Thunderbird",
                            "~/.local/share/flatpak/app/org.mozilla.Thunderbird"),
    "chromium-flatpak": ("/var/lib/flatpak/app/org.chromium.Chromium",
                         "~/.local/share/flatpak/app/org.chromium.Chromium"),
}


@dataclass(frozen=True)
class InstalledBrowser:
    family: str
    name: str  # human name
    program: str  # the executable or app directory found


def installed_browsers(home: Path) -> list[InstalledBrowser]:
    out = []
    for family, exes in _PROGRAMS.items():
        for exe in exes:
            where = shutil.which(exe)
            if where:
                out.append(InstalledBrowser(family, _family_name(family), where))
                break
    for family, dirs in _APP_DIRS.items():
        for raw in dirs:
            path = home / raw[2:] if raw.startswith("~/") else Path(raw)
            if path.is_dir():
                out.append(InstalledBrowser(family, _family_name(family), str(path)))
                break
    return out


def _family_name(family: str) -> str:
    for fam, name in BROWSERS.values():
        if fam == family:
            return name if family != "chromium" else "Chromium"
    return family


def family_of(kind: str) -> str:
    return BROWSERS.get(kind, (kind, kind))[0]


def is_mozilla(family: str) -> bool:
    return family.startswith(("firefox", "thunderbird"))


def _deepest_existing(path: Path, home: Path) -> Path | None:
    """`path` or its nearest existing ancestor, not above HOME."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
        if candidate == home:
            return None
    return None


def watch_targets(home: Path) -> set[Path]:
    """Directories whose new entries can mean a new database, for the agent's watcher.

    A profile root that exists is watched (new profile directories); so is each of its profiles that has no `cert9.db` yet (Firefox
    writes it on the profile's first start). A profile with its database is not watched:
    a running browser writes there all day, and nothing of that concerns trayd. A place
    that does not exist yet is watched through its nearest existing ancestor."""
    out: set[Path] = set()
    for root in mozilla_roots(home):
        if root.path.is_dir():
            out.add(root.path)
            for _name, prof in mozilla_profiles(root.path):
                if not (prof / "cert9.db").is_file():
                    near = _deepest_existing(prof, home)
                    if near is not None:
                        out.add(near)
            try:
                subdirs = [c for c in root.path.iterdir() if c.is_dir()]
            except OSError:
                subdirs = []
            out.update(c for c in subdirs
                       if not (c / "cert9.db").is_file() and "." in c.name)
        else:
            near = _deepest_existing(root.path, home)
            if near is not None:
                out.add(near)
    for db in chromium_dbs(home):
        if not (db.path / "cert9.db").is_file():
            near = _deepest_existing(db.path, home)
            if near is not None:
                out.add(near)
    return out


def without_database(dbs: list, home: Path) -> list[InstalledBrowser]:
    """Installed browsers none of whose databases exists yet (never started, or started
    with a profile that has not written its `cert9.db`): `dbs` are `NssDatabase`s."""
    have = {family_of(db.kind) for db in dbs}
    return [b for b in installed_browsers(home) if b.family not in have]
