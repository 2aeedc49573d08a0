"""The agent's one event loop: GLib's default main context, with or without a tray.

Why one loop: every event handler, timer, child-exit and file-descriptor callback of the
agent runs on the thread that iterates GLib's default main context (the main thread:
GTK's loop while a tray icon runs, `AgentLoop.run()` headless). Consumers then need no
locks for their own state, and blocking work stays on the few threads that must block:
the PC/SC waiter (SCardGetStatusChange), the PKCS#11 worker (OpenSC), the IPC server.
Their results come back through `call_soon`.

Why GLib: pystray's GTK backends run exactly this context, so the tray, D-Bus signals
(notification actions) and the agent's own sources share one loop; headless the agent
runs a `GLib.MainLoop` on the same context. Idle, no source is due: no wake-ups.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from gi.repository import GLib

log = logging.getLogger(__name__)


class Handle:
    """A timer or watch; `cancel()` removes it (safe twice, safe from any thread)."""

    def __init__(self) -> None:
        self._source_id = 0
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        source_id, self._source_id = self._source_id, 0
        if source_id:
            GLib.source_remove(source_id)


class AgentLoop:
    """Callbacks onto the default main context, and a loop to run it when nothing else does."""

    def __init__(self) -> None:
        self._context = GLib.MainContext.default()
        self._loop = GLib.MainLoop.new(self._context, False)
        self._queue: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._queue_lock = threading.Lock()
        self._idle = 0  # the idle source draining `_queue`, while one is attached
        self._quit = False
        self.thread: threading.Thread | None = None  # the thread running callbacks, once known

    # -- scheduling (thread-safe) ----------------------------------------------------------
    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the loop, after everything queued before it (FIFO)."""
        with self._queue_lock:
            self._queue.append((fn, args))
            if not self._idle:
                self._idle = GLib.idle_add(self._drain, priority=GLib.PRIORITY_DEFAULT)

    def _drain(self) -> bool:
        self.thread = threading.current_thread()
        while True:
            with self._queue_lock:
                if not self._queue:
                    self._idle = 0
                    return GLib.SOURCE_REMOVE
                fn, args = self._queue.popleft()
            _run(fn, args)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Handle:
        """Run `fn(*args)` once on the loop after `delay` seconds."""
        handle = Handle()

        def fire() -> bool:
            handle._source_id = 0
            if not handle.cancelled:
                _run(fn, args)
            return GLib.SOURCE_REMOVE

        handle._source_id = GLib.timeout_add(max(0, int(delay * 1000)), fire)
        return handle

    def call_every(self, interval: float, fn: Callable[[], Any]) -> Handle:
        """Run `fn()` on the loop every `interval` seconds until cancelled."""
        handle = Handle()

        def fire() -> bool:
            _run(fn, ())
            return GLib.SOURCE_CONTINUE

        # Whole seconds: GLib groups such timers, so they never wake the process alone.
        if interval >= 1:
            handle._source_id = GLib.timeout_add_seconds(int(interval), fire)
        else:
            handle._source_id = GLib.timeout_add(int(interval * 1000), fire)
        return handle

    def watch_fd(self, fd: int, fn: Callable[[], bool]) -> Handle:
        """Call `fn()` on the loop whenever `fd` is readable; it returns False to stop."""
        handle = Handle()

        def ready(_fd: int, _cond: Any) -> bool:
            keep = True
            try:
                keep = bool(fn())
            except Exception:  # noqa: BLE001 - a broken watcher must not kill the loop
                log.exception("fd watcher %r failed", fn)
            if not keep:
                handle._source_id = 0
            return keep

        handle._source_id = GLib.unix_fd_add_full(
            GLib.PRIORITY_DEFAULT, fd, GLib.IOCondition.IN | GLib.IOCondition.HUP, ready)
        return handle

    def watch_child(self, pid: int, fn: Callable[[int], Any]) -> Handle:
        """Call `fn(exit_code)` on the loop once child `pid` ended (no reaper thread).

        The code is the child's exit status, or -signal as subprocess reports it."""
        handle = Handle()

        def ended(_pid: int, status: int) -> None:
            handle._source_id = 0
            try:
                code = os.waitstatus_to_exitcode(status)
            except ValueError:
                code = status
            _run(fn, (code,))

        handle._source_id = GLib.child_watch_add(GLib.PRIORITY_DEFAULT, pid, ended)
        return handle

    # -- running ------------------------------------------------------------------------
    def run(self) -> None:
        """Iterate the default context on this thread until `quit()` (headless agent)."""
        self.thread = threading.current_thread()
        if not self._quit:
            self._loop.run()

    def quit(self) -> None:
        """Make `run()` return, or not start (any thread, also before `run()`).

        GLib forgets a quit that comes before the run; the idle source repeats it once
        the context is iterated (it only ever stops this loop object)."""
        self._quit = True
        self._loop.quit()
        GLib.idle_add(self._quit_idle)

    def _quit_idle(self) -> bool:
        self._loop.quit()
        return GLib.SOURCE_REMOVE

    def close(self) -> None:
        """Drop what is still queued (the agent stopped: nothing may run in a later loop
        on the same default context, e.g. the next in-process agent of a test)."""
        with self._queue_lock:
            self._queue.clear()
            source_id, self._idle = self._idle, 0
        if source_id:
            GLib.source_remove(source_id)

    def running(self) -> bool:
        return self._loop.is_running()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far has run (tests, shutdown).

        If another thread iterates the context, wait for it; else iterate it here."""
        done = threading.Event()
        self.call_soon(done.set)
        if self._context.acquire():
            try:
                deadline = GLib.get_monotonic_time() + int(timeout * 1e6)
                while not done.is_set() and GLib.get_monotonic_time() < deadline:
                    self._context.iteration(False) or done.wait(0.01)
            finally:
                self._context.release()
            return done.is_set()
        return done.wait(timeout)


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - one failing callback must not stop the others
        log.exception("loop callback %r failed", fn)
