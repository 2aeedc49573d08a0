"""Agent component: browser databases that appear later follow the user's decisions.

Why a watcher: a browser started for the first time after the user said はい makes a
profile without the root and without OpenSC, and nothing would tell the user. The
component watches the browsers' profile roots with inotify (no polling: the agent's loop
watches the inotify descriptor, so the idle agent never wakes up) and looks again at each
token insertion. When a database shows up — Firefox writes
several files, so the component waits until the directory has been quiet for a moment —
`platform.follow_decisions.apply()` adds what the user already accepted, and the user is
told once: 「ブラウザに登録しました。ブラウザを再起動してください。」 when that browser
is running (it reads `pkcs11.txt` only at start-up), else that it takes effect on the
next start. Everything runs on the agent's loop: the inotify watch, the quiet timer
and the looks (reading a few files and, rarely, a modutil/certutil run).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from trayd.agent.notifications import Notify
from trayd.events import EventBus, TokenIdentified
from trayd.i18n import _
from trayd.platform.loop import AgentLoop, Handle

log = logging.getLogger(__name__)

QUIET = 1.0  # seconds without events before looking (a profile is written in bursts)


class BrowserFollow:
    """Applies the user's earlier yes to browser databases that appear later."""

    name = "browser_follow"

    def __init__(self, bus: EventBus, notify: Notify, loop: AgentLoop,
                 home: Path | None = None) -> None:
        self.bus = bus
        self.notify = notify
        self.loop = loop
        self.home = Path(home) if home else Path.home()
        self._unsubscribe = None
        self._watch: Handle | None = None
        self._quiet: Handle | None = None  # the look after a burst of changes, while due
        self._stopping = False
        self._settled: set[tuple[str, str]] = set()
        self._inotify = None
        self.passes = 0  # completed looks (tests wait on the agent's log instead)

    # -- component protocol -------------------------------------------------------------
    def start(self) -> None:
        from trayd.platform.inotify import Inotify

        self._inotify = Inotify()
        self._unsubscribe = self.bus.subscribe(TokenIdentified, self._on_identified)
        self._watch = self.loop.watch_fd(self._inotify.fileno(), self._on_inotify)
        # Databases created while the agent was not running.
        self.loop.call_soon(self._look_again)

    def stop(self) -> None:
        self._stopping = True
        if self._unsubscribe:
            self._unsubscribe()
        for handle in (self._watch, self._quiet):
            if handle is not None:
                handle.cancel()
        if self._inotify is not None:
            self._inotify.close()

    def _on_identified(self, ev: TokenIdentified) -> None:
        self._look_again()  # a token insertion: look again (no wait for quiet)

    # -- on the loop -------------------------------------------------------------------------
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

    def _on_inotify(self, *_: Any) -> bool:
        """Something was created: look once the directory has been quiet for QUIET s."""
        if self._stopping:
            return False
        if self._inotify.read_events():
            if self._quiet is not None:
                self._quiet.cancel()
            self._quiet = self.loop.call_later(QUIET, self._look_again)
        return True

    def _look_again(self) -> None:
        if self._stopping:
            return
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        self._rearm()
        self.look()

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

