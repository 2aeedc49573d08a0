"""Where trayd keeps its files, following the XDG base directory specification.

Why one module: tests point HOME / XDG_* at a temporary directory and every component
(config, PIN failure counters, first-run answers, the agent's socket and lock) must
follow, so nobody computes these paths on their own.
"""
from __future__ import annotations

import os
from pathlib import Path

APP = "trayd"


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config") / APP


def config_file() -> Path:
    return config_dir() / "config.toml"


def state_dir() -> Path:
    """Small persistent state: PIN failure counters, first-run answers."""
    return _xdg("XDG_STATE_HOME", ".local/state") / APP


def data_dir() -> Path:
    return _xdg("XDG_DATA_HOME", ".local/share") / APP


def runtime_dir() -> Path:
    """Per-session, per-user, private: the instance lock and the agent socket."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        path = Path(base) / APP
    else:
        path = Path("/tmp") / f"{APP}-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def agent_socket() -> Path:
    return runtime_dir() / "agent.sock"


def instance_lock() -> Path:
    return runtime_dir() / "agent.lock"


def package_data() -> Path:
    """Files shipped inside the package (icons, …)."""
    return Path(__file__).resolve().parent / "data"
