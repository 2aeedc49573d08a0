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


class FileLock:
    """An exclusive `flock` on `path` (created 0600 if needed), across processes and threads.

    Why flock and not a pid file or a lock directory: the kernel drops the lock when the
    holder dies, however it dies, so a crash never leaves a stale lock behind. Each
    `FileLock` opens its own file description, so two threads of one process exclude each
    other too. `with FileLock(p):` waits for the lock; `acquire(wait=False)` answers at once
    (the agent's and the management window's "only one of me"). `fd` is the open lock file,
    for a holder that writes its pid into it.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, wait: bool = True) -> bool:
        """Take the lock (waiting unless `wait=False`); False when someone else holds it."""
        if self.fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this FileLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (closing the file drops the flock); harmless when not held."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
