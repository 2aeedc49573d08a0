"""Small file primitives every part of trayd shares: atomic writes, tolerant JSON, flock.

Why one module: config edits, the PIN failure counter, expiry reminders, the trust record,
autostart entries, cached icons and exported certificates must all survive a crash or a
pulled token without leaving a half-written file, and state shared by the agent and CLI
processes must be updated under one lock. Doing that once keeps the rules (temp file in the
same directory, fsync, rename; never clobber unless asked) in one place.
"""
from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def write_atomic(path: Path | str, data: bytes | str, *, mode: int | None = None,
                 replace: bool = True) -> Path:
    """Write `data` to `path` all at once: readers see the old file or the new one.

    `replace=False` never clobbers: it raises FileExistsError if `path` appeared, even in a
    race. `mode` sets the permission bits (default: mkstemp's private 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the name exists: never clobber
            os.unlink(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: Path | str, default: Any = None) -> Any:
    """The JSON in `path`, or `default` when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def write_json(path: Path | str, data: Any) -> Path:
    return write_atomic(path, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False)
                        + "\n")


@contextmanager
def file_lock(path: Path | str) -> Iterator[None]:
    """An exclusive flock on `path` (created if needed), across processes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
