"""Agent component: browser databases that appear later follow the user's decisions.

Why a watcher: a browser started for the first time after the user said はい makes a
profile without the root and without OpenSC, and nothing would tell the user. The
component watches the browsers' profile roots with inotify (no polling: its thread
blocks in select() without a timeout while nothing changes, so the idle agent never wakes
up) and looks again at each token insertion. When a database shows up — Firefox writes
several files, so the component waits until the directory has been quiet for a moment —
`platform.follow_decisions.apply()` adds what the user already accepted, and the user is
told once: 「ブラウザに登録しました。ブラウザを再起動してください。」 when that browser
is running (it reads `pkcs11.txt` only at start-up), else that it takes effect on the
next start. All work runs on the component's own thread; event handlers only signal it.
"""
from __future__ import annotations

import logging
import os
import select
import threading
from pathlib import Path
from typing import Any

from trayd.agent.notifications import Notify
from trayd.events import EventBus, TokenIdentified
from trayd.i18n import _

log = logging.getLogger(__name__)

QUIET = 1.0  # seconds without events before looking (a profile is written in bursts)


class BrowserFollow:
    """Applies the user's earlier yes to browser databases that appear later."""

    name = "browser_follow"

    def __init__(self, bus: EventBus, notify: Notify, home: Path | None = None) -> None:
        self.bus = bus
        self.notify = notify
        self.home = Path(home) if home else Path.home()
        self._thread: threading.Thread | None = None
        self._unsubscribe = None
        self._stop_r, self._stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stopping = threading.Event()
        self._settled: set[tuple[str, str]] = set()
        self._inotify = None
        self.passes = 0  # completed looks (tests wait on the agent's log instead)

    # -- component protocol -------------------------------------------------------------
    def start(self) -> None:
        from trayd.platform.inotify import Inotify

        self._inotify = Inotify()
        self._unsubscribe = self.bus.subscribe(TokenIdentified, self._on_identified)
        self._thread = threading.Thread(target=self._loop, name="trayd-nss-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._unsubscribe:
            self._unsubscribe()
        self._poke()
        if self._thread:
            self._thread.join(0.3)

    def _poke(self) -> None:
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            pass

    def _on_identified(self, ev: TokenIdentified) -> None:
        self._poke()  # a token insertion: look again (no wait for quiet)

    # -- the watcher thread ----------------------------------------------------------------
    def _rearm(self) -> None:
        from trayd.platform import inotify, nss_locations

        want = nss_locations.watch_targets(self.home)
        have = self._inotify.watched
        for gone in have - want:
            self._inotify.remove(gone)
        # Creations only: a write into HOME or a busy profile must not wake the agent.
        mask = inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_DELETE_SELF | \
            inotify.IN_MOVE_SELF
        for path in sorted(want - have):
            self._inotify.add(path, mask)
        log.debug("browser follow: watching %d director(ies)", len(self._inotify.watched))

    def _loop(self) -> None:
        """Wait on inotify for new or changed NSS databases; register the module there."""
        fds = [self._inotify.fileno(), self._stop_r]
        self._rearm()
        self.look()  # databases created while the agent was not running
        pending = False
        while not self._stopping.is_set():
            ready, _w, _x = select.select(fds, [], [], QUIET if pending else None)
            if self._stopping.is_set():
                break
            if not ready:  # quiet after a burst of changes
                pending = False
                self._rearm()
                self.look()
                continue
            if self._inotify.fileno() in ready and self._inotify.read_events():
                pending = True
            if self._stop_r in ready:
                try:
                    os.read(self._stop_r, 64)
                except BlockingIOError:
                    pass
                if not self._stopping.is_set():
                    self._rearm()
                    self.look()
        self._inotify.close()

    def look(self) -> None:
        """Apply recorded decisions to new databases and tell the user once."""
        from trayd.platform import follow_decisions

        try:
            result = follow_decisions.apply(self.home, self._settled)
        except Exception:  # noqa: BLE001 - the watcher must keep watching
            log.exception("browser follow: look failed")
            return
        finally:
            self.passes += 1
        log.debug("browser follow: look %d done: %d database(s), %d changed", self.passes,
                  result.seen, len(result.applied))
        if result.applied:
            self._tell(result)
        if result.errors:
            from trayd.messages import describe

            self.notify(_("Registering in the browser failed"),
                              describe(result.errors[0]), "error")

    def _tell(self, result: Any) -> None:
        names = ", ".join(dict.fromkeys(a.database.browser for a in result.applied))
        if result.running:
            body = _("Registered in the browser. Restart the browser.")
        else:
            body = _("Registered in the browser. It takes effect the next time the browser "
                     "starts.")
        log.info("browser follow: told the user (%s, running=%s)", names, result.running)
        self.notify(_("Token registered in {browsers}").format(browsers=names), body,
                          "present")

