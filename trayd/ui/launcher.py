"""Start dialogs and the management window as child processes, and reap them.

Why child processes: pystray's GTK loop owns the agent's main thread and Tk wants one of
its own; a dialog in its own process can neither fight the tray for the main loop nor
take the agent down when it hangs or crashes. This is the one place that spawns them, so
every rule lives here: never block the caller (a reaper thread per child waits for it),
never pass a PIN (dialogs ask for it themselves and send it to the agent's socket), no
two copies of the same dialog at once, and the children follow the agent's language.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from trayd import i18n

log = logging.getLogger(__name__)

ExitCallback = Callable[[int], None]


class Launcher:
    def __init__(self, python: str | None = None, env: dict[str, str] | None = None) -> None:
        self.python = python or sys.executable
        self._env = env
        self._lock = threading.Lock()
        self._children: dict[tuple[str, ...], subprocess.Popen] = {}

    def _child_env(self) -> dict[str, str]:
        env = dict(self._env if self._env is not None else os.environ)
        env["TRAYD_LANGUAGE"] = i18n.current_language()
        return env

    def ui(self, *args: str, on_exit: ExitCallback | None = None) -> subprocess.Popen | None:
        """Run `python -m trayd.ui *args`; see `spawn`."""
        return self.spawn(["-m", "trayd.ui", *args], on_exit=on_exit)

    def spawn(self, args: Sequence[str], on_exit: ExitCallback | None = None
              ) -> subprocess.Popen | None:
        """Start `python *args` unless the same one is still open; returns at once.

        `on_exit(returncode)` runs on a reaper thread when the child ends. Returns None
        when an identical child is already running (a double click) or it cannot start.
        """
        key = tuple(args)
        if any("pin" == a.lower().lstrip("-") for a in key):
            raise ValueError("a PIN is never passed on a command line")
        with self._lock:
            running = self._children.get(key)
            if running is not None and running.poll() is None:
                log.info("launcher: %s is already open (pid %d)", " ".join(key), running.pid)
                return None
            try:
                proc = subprocess.Popen([self.python, *key], env=self._child_env(),
                                        stdin=subprocess.DEVNULL, close_fds=True)
            except OSError as exc:
                log.error("launcher: cannot start %s: %s", " ".join(key), exc)
                return None
            self._children[key] = proc
        log.info("launcher: started %s (pid %d)", " ".join(key), proc.pid)
        threading.Thread(target=self._reap, args=(key, proc, on_exit),
                         name=f"reap:{proc.pid}", daemon=True).start()
        return proc

    def _reap(self, key: tuple[str, ...], proc: subprocess.Popen,
              on_exit: ExitCallback | None) -> None:
        rc = proc.wait()
        with self._lock:
            if self._children.get(key) is proc:
                del self._children[key]
        log.info("launcher: %s exited with %d", " ".join(key), rc)
        if on_exit is not None:
            try:
                on_exit(rc)
            except Exception:  # noqa: BLE001 - a callback bug must not kill the reaper silently
                log.exception("launcher: exit callback for %s failed", " ".join(key))

    def running(self) -> list[tuple[tuple[str, ...], int]]:
        with self._lock:
            return [(k, p.pid) for k, p in self._children.items() if p.poll() is None]

    def stop_all(self, timeout: float = 2.0) -> None:
        """Close every child (agent shutdown): SIGTERM, then SIGKILL after `timeout`."""
        with self._lock:
            procs = list(self._children.values())
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(1)
