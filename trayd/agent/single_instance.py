"""One agent per user session: an flock on `$XDG_RUNTIME_DIR/trayd/agent.lock`.

Why flock and not a pid file: the kernel drops the lock when the process dies, however
it dies, so a crash never leaves a stale lock behind; the pid written into the file is
only for the message "already running (pid N)".
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from trayd import paths
from trayd.errors import AlreadyRunning


class InstanceLock:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.instance_lock()
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning(pid of the holder)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                pid = int(os.pread(fd, 32, 0).decode().strip() or 0) or None
            except (OSError, ValueError):
                pid = None
            os.close(fd)
            raise AlreadyRunning(pid=pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "InstanceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
