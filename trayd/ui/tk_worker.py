"""Token work off the Tk thread: one worker per window, busy feedback, the window context.

Why: binding an ePass2003 takes over a second and a login a few; the Tk thread must keep
painting meanwhile, and Tk may only be touched from its own thread. So every token call
runs on one background thread (`BackendWorker`), its result comes back through a queue
polled with `root.after`, and while it runs the window shows a watch cursor and disables
its buttons (`set_busy`, `set_enabled`).
"""
from __future__ import annotations

import logging
import queue
import threading
import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import Any

log = logging.getLogger(__name__)


class BackendWorker:
    """Runs token calls on one background thread; results come back on the Tk thread.

    Why one thread: calls are serialised (the backend's own PKCS#11 worker would
    serialise them anyway) and a result can never overtake an earlier one. The Tk side
    polls a queue with `after`, because Tk must only be touched from its own thread.
    """

    POLL_MS = 40

    def __init__(self, root: tk.Misc) -> None:
        self.root = root
        self._jobs: queue.Queue[tuple[Callable[[], Any], Callable[[Any], None] | None,
                                      Callable[[BaseException], None] | None, bool] | None] = (
            queue.Queue())
        self._results: queue.Queue[Callable[[], None]] = queue.Queue()
        self._pending = 0
        self._busy_listeners: list[Callable[[bool], None]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="trayd-ui-worker", daemon=True)
        self._thread.start()
        self._after_id: str | None = None
        self._poll()

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def on_busy(self, listener: Callable[[bool], None]) -> None:
        self._busy_listeners.append(listener)

    def submit(self, fn: Callable[[], Any], on_ok: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None,
               background: bool = False) -> None:
        """Run `fn()` off the Tk thread; then `on_ok(result)` or `on_error(exc)` on it.

        `background=True` (a re-list after an event) shows no busy feedback and blocks no
        button: a user's click during a refresh must not be swallowed; it simply queues.
        """
        if self._closed:
            return
        if not background:
            self._pending += 1
            if self._pending == 1:
                self._notify_busy(True)
        self._jobs.put((fn, on_ok, on_error, background))

    def call_soon(self, fn: Callable[[], None]) -> None:
        """From any thread: run `fn` on the Tk thread (used by event subscriptions)."""
        self._results.put(fn)

    def _notify_busy(self, busy: bool) -> None:
        for listener in list(self._busy_listeners):
            try:
                listener(busy)
            except tk.TclError:
                pass

    def _loop(self) -> None:
        """Run one window's token calls in order, off the Tk thread."""
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, on_ok, on_error, background = job
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the UI, never swallowed
                if not isinstance(exc, Exception):
                    log.debug("worker job raised %s", type(exc).__name__)
                self._results.put(self._finish(on_error, exc, True, background))
            else:
                self._results.put(self._finish(on_ok, result, False, background))

    def _finish(self, cb: Callable[[Any], None] | None, value: Any,
                failed: bool, background: bool) -> Callable[[], None]:
        def done() -> None:
            if not background:
                self._pending -= 1
                if self._pending == 0:
                    self._notify_busy(False)
            if cb is not None:
                cb(value)
            elif failed:
                log.error("background call failed: %s", type(value).__name__)
        return done

    def _poll(self) -> None:
        try:
            while True:
                fn = self._results.get_nowait()
                try:
                    fn()
                except Exception:  # noqa: BLE001 - one broken callback must not stop polling
                    log.exception("UI callback failed")
        except queue.Empty:
            pass
        if not self._closed:
            try:
                self._after_id = self.root.after(self.POLL_MS, self._poll)
            except tk.TclError:
                pass

    def close(self) -> None:
        self._closed = True
        self._jobs.put(None)


def set_busy(win: tk.Misc, busy: bool) -> None:
    """Watch cursor on `win` and all its descendants' toplevels while token work runs."""
    cursor = "watch" if busy else ""
    try:
        win.configure(cursor=cursor)  # type: ignore[call-arg]
    except tk.TclError:
        pass


def set_enabled(widgets: list[tk.Misc], enabled: bool) -> None:
    for w in widgets:
        try:
            if isinstance(w, ttk.Widget):
                w.state(["!disabled"] if enabled else ["disabled"])
            else:
                w.configure(state="normal" if enabled else "disabled")  # type: ignore[call-arg]
        except tk.TclError:
            pass


class UiContext:
    """What every window needs: the Tk root, the token backend, the worker thread."""

    def __init__(self, root: tk.Tk, backend: Any) -> None:
        self.root = root
        self.backend = backend
        self.worker = BackendWorker(root)

    def close(self) -> None:
        self.worker.close()
