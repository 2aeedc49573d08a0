"""Thread names the kernel knows (/proc/PID/task/TID/comm).

Why: `top -H`, `ps -L`, the idle benchmark and tests/test_architecture_doc.py tell threads
apart by their OS name, and Python 3.11 leaves every thread called "python". The agent
names the threads that exist when it has started (`name_os_threads()`); a thread
started later (a pool's worker, one per IPC client, a window reaper) names itself by
calling `name_os_thread()` first thing. Best effort, 15 characters (the kernel's limit).
"""
from __future__ import annotations

import threading


def set_os_name(native_id: int, name: str) -> None:
    """Write `name` as the OS name of thread `native_id` of this process."""
    try:
        with open(f"/proc/self/task/{native_id}/comm", "w", encoding="utf-8") as comm:
            comm.write(name[:15])
    except OSError:
        pass


def name_os_thread() -> None:
    """Give the calling thread its Python name at the OS level (a pool initializer)."""
    thread = threading.current_thread()
    if thread is not threading.main_thread() and thread.native_id:
        set_os_name(thread.native_id, thread.name)


def name_os_threads() -> None:
    """Give every running Python thread (but the main one) its name at the OS level."""
    for thread in threading.enumerate():
        tid = getattr(thread, "native_id", None)
        if tid and thread is not threading.main_thread():
            set_os_name(tid, thread.name)
