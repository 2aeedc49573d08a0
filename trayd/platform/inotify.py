"""Linux inotify through ctypes: directory watches a thread can block on without a timeout.

Why ctypes and not Gio.FileMonitor or a package: the agent has no GLib main loop when it
runs without a tray (`trayd run --no-tray`), polling would wake it up while idle, and
inotify is three libc calls. The descriptor is non-blocking; callers `select()` on
`fileno()` together with their own stop pipe and then call `read_events()`.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
from dataclasses import dataclass
from pathlib import Path

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_HEADER = struct.Struct("iIII")


@dataclass(frozen=True)
class Event:
    directory: Path | None  # the watched directory (None after an overflow)
    name: str  # entry inside it ("" for events on the directory itself)
    mask: int


class Inotify:
    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd
        self._dirs: dict[int, Path] = {}
        self._wds: dict[Path, int] = {}

    def fileno(self) -> int:
        return self.fd

    @property
    def watched(self) -> set[Path]:
        return set(self._wds)

    def add(self, directory: Path, mask: int) -> bool:
        """Watch `directory`; False when it does not exist (or is not a directory)."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(str(directory)),
                                          mask | IN_ONLYDIR)
        if wd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                return False
            raise OSError(err, f"inotify_add_watch {directory}: {os.strerror(err)}")
        self._dirs[wd] = directory
        self._wds[directory] = wd
        return True

    def remove(self, directory: Path) -> None:
        wd = self._wds.pop(directory, None)
        if wd is not None:
            self._dirs.pop(wd, None)
            self._libc.inotify_rm_watch(self.fd, wd)  # EINVAL if already gone: fine

    def read_events(self) -> list[Event]:
        try:
            data = os.read(self.fd, 64 * 1024)
        except BlockingIOError:
            return []
        events, offset = [], 0
        while offset + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            raw = data[offset:offset + length].rstrip(b"\0")
            offset += length
            directory = self._dirs.get(wd)
            if mask & IN_IGNORED and directory is not None:
                self._dirs.pop(wd, None)
                self._wds.pop(directory, None)
            events.append(Event(directory, os.fsdecode(raw), mask))
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
