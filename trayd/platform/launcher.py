"""The one way to start a window: `python -m trayd.ui --language L <command> …` as a child.

Why child processes: the tray's GTK loop owns the agent's main thread and Tk wants one of
its own; a dialog in its own process can neither fight the tray for the main loop nor
take the agent down when it hangs or crashes.

Why one launcher: every window the agent (tray menu, root-certificate prompt) or the CLI
starts must speak the language the starter decided, import the same trayd, and follow
the same rules. Earlier there were three ways to start a window, and a child could end up
in another language than the tray (one passed the language in the environment only if
unset, one not at all, and a child's own config/locale lookup or a different `trayd`
found first on `sys.path` could win). So here, and only here:
- the language goes on the command line (`--language`, which beats the child's
  environment and config) and in `TRAYD_LANGUAGE` for anything the child starts;
- the child imports the starter's trayd package (`PYTHONPATH` first, `-P`: not the
  current directory);
- a PIN is never passed (dialogs ask for it and send it to the agent's socket);
- no two copies of the same window at once; the caller never blocks (`ui`): in the agent
  its loop's child watch reports the exit (`watch_child`, no thread), elsewhere a reaper
  thread per child; or a waiting call for a yes/no answer (`run`, the CLI).
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import trayd
from trayd.threads import name_os_thread

log = logging.getLogger(__name__)

ExitCallback = Callable[[int], None]
# watch_child(pid, on_exit): call on_exit(exit code) once child `pid` ended (AgentLoop's).
ChildWatch = Callable[[int, ExitCallback], object]
PACKAGE_ROOT = str(Path(trayd.__file__).resolve().parent.parent)


class Launcher:
    """Starts `python -m trayd.ui` windows in `language` ("ja" or "en")."""

    def __init__(self, language: str, python: str | None = None,
                 env: dict[str, str] | None = None,
                 watch_child: ChildWatch | None = None) -> None:
        """`watch_child`: the agent loop's (exits reported on the loop); None: a reaper
        thread per window."""
        if language not in ("ja", "en"):
            raise ValueError(f"launcher language must be resolved (ja/en), not {language!r}")
        self.language = language
        self.python = python or sys.executable
        self._env = env
        self._watch_child = watch_child
        self._lock = threading.Lock()
        self._children: dict[tuple[str, ...], subprocess.Popen] = {}

    def child_env(self) -> dict[str, str]:
        env = dict(self._env if self._env is not None else os.environ)
        env["TRAYD_LANGUAGE"] = self.language
        path = env.get("PYTHONPATH", "")
        if PACKAGE_ROOT not in path.split(os.pathsep):
            env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + path if path else "")
        return env

    def argv(self, command: Sequence[str]) -> list[str]:
        """The full command line for window `command` (e.g. ["login", "--token", S])."""
        if any("pin" == a.lower().lstrip("-") for a in command):
            raise ValueError("a PIN is never passed on a command line")
        return [self.python, "-P", "-m", "trayd.ui", "--language", self.language, *command]

    def ui(self, *command: str, on_exit: ExitCallback | None = None
           ) -> subprocess.Popen | None:
        """Open window `command` unless the same one is still open; returns at once.

        `on_exit(returncode)` runs when the child ended: on the agent's loop (`watch_child`)
        or on a reaper thread. Returns None when an identical window is already open (a
        double click) or it cannot start.
        """
        key = tuple(command)
        argv = self.argv(key)
        with self._lock:
            # Open until its exit was reported (poll() here could reap it under GLib).
            running = self._children.get(key)
            if running is not None:
                log.info("launcher: %s is already open (pid %d)", _show(key), running.pid)
                return None
            proc = self._popen(argv, key)
            if proc is None:
                return None
            self._children[key] = proc
        if self._watch_child is not None:
            self._watch_child(proc.pid, lambda rc: self._ended(key, proc, rc, on_exit))
        else:
            threading.Thread(target=self._reap, args=(key, proc, on_exit),
                             name=f"reap:{proc.pid}", daemon=True).start()
        return proc

    def run(self, *command: str) -> int | None:
        """Open window `command` and wait for its exit code (None: it could not start).
        For the CLI, which has nothing else to do meanwhile: a plain blocking wait."""
        key = tuple(command)
        proc = self._popen(self.argv(key), key)
        if proc is None:
            return None
        with self._lock:
            self._children[key] = proc
        try:
            rc = proc.wait()
            log.info("launcher: %s exited with %d", _show(key), rc)
            return rc
        finally:
            with self._lock:
                if self._children.get(key) is proc:
                    del self._children[key]

    def _popen(self, argv: list[str], key: tuple[str, ...]) -> subprocess.Popen | None:
        try:
            proc = subprocess.Popen(argv, env=self.child_env(), stdin=subprocess.DEVNULL,
                                    close_fds=True)
        except OSError as exc:
            log.error("launcher: cannot start %s: %s", _show(key), exc)
            return None
        # Tests and bug reports read this line.
        log.info("launcher: started %s (pid %d, language %s)", _show(key), proc.pid,
                 self.language)
        return proc

    def _reap(self, key: tuple[str, ...], proc: subprocess.Popen,
              on_exit: ExitCallback | None) -> None:
        """Wait for one window process to end, forget it and report its exit status."""
        name_os_thread()
        self._ended(key, proc, proc.wait(), on_exit)

    def _ended(self, key: tuple[str, ...], proc: subprocess.Popen, rc: int,
               on_exit: ExitCallback | None) -> None:
        """One window ended with `rc`: forget it and report its exit status."""
        proc.returncode = rc  # reaped by GLib's child watch: tell Popen
        with self._lock:
            if self._children.get(key) is proc:
                del self._children[key]
        log.info("launcher: %s exited with %d", _show(key), rc)
        if on_exit is not None:
            try:
                on_exit(rc)
            except Exception:  # noqa: BLE001 - a callback bug must not pass silently
                log.exception("launcher: exit callback for %s failed", _show(key))

    def running(self) -> list[tuple[tuple[str, ...], int]]:
        with self._lock:
            return [(k, p.pid) for k, p in self._children.items()]

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


def _show(key: tuple[str, ...]) -> str:
    return " ".join(("-m", "trayd.ui", *key))
