"""One agent per user session: a `trayd.files.FileLock` on `$XDG_RUNTIME_DIR/trayd/agent.lock`.

Why a lock and not a pid file: the kernel drops the lock when the process dies, however
it dies, so a crash never leaves a stale lock behind; the pid written into the file is
only for the message "already running (pid N)".
"""
from __future__ import annotations

import os
from pathlib import Path

from trayd import paths
from trayd.errors import AlreadyRunning
from trayd.files import FileLock


class InstanceLock:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.instance_lock()
        self._lock = FileLock(self.path)

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning(pid of the holder)."""
        if not self._lock.acquire(wait=False):
            try:
                pid = int(self.path.read_text(encoding="ascii").strip() or 0) or None
            except (OSError, ValueError):
                pid = None
            raise AlreadyRunning(pid=pid)
        fd = self._lock.fd
        assert fd is not None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        fd = self._lock.fd
        if fd is not None:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
        self._lock.release()

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
