"""User configuration: `$XDG_CONFIG_HOME/trayd/config.toml` (documented example in
`packaging/config.example.toml`).

Why typed: every key has one place where its type, default and allowed values live, and
a wrong value is reported with the key's name and then replaced by the default, so a typo
never stops the agent.
"""
from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from trayd import paths
from trayd.files import write_atomic

log = logging.getLogger(__name__)

_CHOICES: dict[str, tuple[str, ...]] = {
    "language": ("auto", "ja", "en"),
    "notify_cards": ("all", "epass2003", "none"),
    "on_removal": ("none", "lock"),
}


@dataclass
class Config:
    language: str = "auto"
    # Which cards raise insert/remove notifications: every card, only ePass2003 tokens, none.
    notify_cards: str = "all"
    # Notification display time in seconds (0 lets the notification server decide).
    notification_timeout: int = 5
    # What to do when a token is pulled: nothing, or lock the screen.
    on_removal: str = "none"
    # PKCS#11 module; empty = search the usual Debian / Fedora / Arch paths.
    pkcs11_module: str = ""
    # Consecutive wrong PINs that lock the token (EPPCERT tokens: 10).
    max_pin_tries: int = 10
    # Warn about certificates that expire within this many days.
    expiry_warning_days: int = 60
    # Desktop notifications on/off (the tray menu toggles it).
    notifications: bool = True
    # Offer to install the token's root certificate on first insertion.
    root_prompt: bool = True
    source: Path | None = field(default=None, compare=False)
    problems: list[str] = field(default_factory=list, compare=False)


def load(path: Path | None = None) -> Config:
    """Read the config file; a missing file gives the defaults, a broken one a warning."""
    path = path or paths.config_file()
    cfg = Config(source=path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return cfg
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        cfg.problems.append(f"{path}: {exc}")
        log.warning("config %s unreadable (%s); using defaults", path, exc)
        return cfg
    known = {f.name: f for f in fields(Config) if f.name not in ("source", "problems")}
    for key, value in raw.items():
        f = known.get(key)
        if f is None:
            cfg.problems.append(f"{path}: unknown key {key!r}")
            continue
        default = getattr(cfg, key)
        ok = isinstance(value, type(default)) and not (
            isinstance(value, bool) and not isinstance(default, bool)
        )
        if ok and key in _CHOICES and value not in _CHOICES[key]:
            ok = False
        if ok and isinstance(default, int) and not isinstance(default, bool) and value < 0:
            ok = False
        if not ok:
            cfg.problems.append(f"{path}: bad value for {key!r}: {value!r}")
            continue
        setattr(cfg, key, value)
    for problem in cfg.problems:
        log.warning("config: %s", problem)
    return cfg


def save_value(key: str, value: object, path: Path | None = None) -> None:
    """Set one key in the user's config file, keeping the other lines (tray toggles)."""
    path = path or paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    rendered = f"{key} = " + (
        ("true" if value else "false") if isinstance(value, bool)
        else str(value) if isinstance(value, int) else '"' + str(value).replace('"', '\\"') + '"'
    )
    for i, line in enumerate(lines):
        if line.split("=", 1)[0].strip() == key:
            lines[i] = rendered
            break
    else:
        lines.append(rendered)
    write_atomic(path, "\n".join(lines) + "\n", mode=0o644)
