"""Agent component: the tray icon, owner of the agent's main thread.

Why this shape:
- The icon is a pystray.Icon (`trayd.ui.tray_indicator`: its AppIndicator backend, else
  its Gtk.StatusIcon one); pystray's `run()` needs the main thread and a GLib loop, so the
  tray is the agent's main-loop owner: `run_main_loop()` blocks in that loop until
  `stop_main_loop()`. Everything else (PC/SC monitor, PKCS#11 worker, socket) runs on
  its own threads. Signals reach the agent through `set_wakeup_fd` and its watcher
  thread, which works while GTK sleeps in C.
- The icon is shown by theme name (trayd.icons.NAMES) from trayd's hicolor theme: over
  StatusNotifierItem where a watcher runs, else as an XEmbed icon; libayatana moves it
  when a watcher comes or goes.
- The menu is rebuilt from a `TrayState` (see `trayd.ui.tray_menu`) by a refresher
  thread woken by each change of the agent's token model (`trayd.ui.tray_model`
  derives the state from its snapshot: no token service call, no APDU) and queued onto
  the GTK loop. The GTK thread never waits for a token.
- Menu actions open windows through the agent's one launcher
  (`trayd.platform.launcher`: dialogs never run in the agent, a PIN never passes
  through the tray, every window speaks the agent's language).
- No display, no D-Bus session or no tray host: the agent says so once (log and one
  notification) and keeps running headless with its notifications.
"""
from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from trayd import config as config_mod
from trayd.agent.notifications import Notify
from trayd.agent.root_prompt import RootPrompt
from trayd.agent.token_model import Change, TokenModel
from trayd.config import Config
from trayd.i18n import _
from trayd.platform.display import has_display
from trayd.platform.launcher import Launcher
from trayd.platform.tray_host import tray_host_present
from trayd.ui import tray_menu
from trayd.ui.tray_indicator import Indicator
from trayd.ui.tray_menu import Action, Entry, TrayState
from trayd.ui.tray_model import tray_state

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class TrayComponent:
    """The tray icon and its menu; the agent's main-loop owner."""

    name = "tray"

    def __init__(self, model: TokenModel, config: Config, launcher: Launcher, notify: Notify,
                 request_stop: Callable[[], None],
                 root_prompt: RootPrompt | None = None) -> None:
        """`launcher`: the agent's one launcher (windows open in the agent's language);
        `request_stop`: the agent's (「終了」, a signal while headless); `model`: the agent's
        token model, what the menu shows; `root_prompt`: for 「ルート証明書のインストール」,
        if it runs."""
        self.model = model
        self.config = config
        self.launcher = launcher
        self.notify = notify
        self.request_stop = request_stop
        self.root_prompt = root_prompt
        self.indicator: Indicator | None = None  # once the loop runs
        self.headless = False
        self.backend = "none"
        self.state = TrayState()
        self._applied: tuple[str, str, tuple[Entry, ...]] | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._loop_done = threading.Event()
        self._headless_stop = threading.Event()
        self._ready = threading.Event()
        self._unsubscribe: list[Callable[[], None]] = []
        self._refresher: threading.Thread | None = None
        self._apply_lock = threading.Lock()

    # -- component protocol ---------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe.append(self.model.subscribe(self._on_change))
        self._refresher = threading.Thread(target=self._refresh_loop, name="tray-refresh",
                                           daemon=True)
        self._refresher.start()
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()
        self.launcher.stop_all(timeout=0.3)
        self.stop_main_loop()

    # -- model -> state ---------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        """Runs on the posting thread: wake the refresher, return."""
        self._wake.set()

    def _refresh_loop(self) -> None:
        """Rebuild the tray's state and menu after each event, off the GTK thread."""
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                state = self._collect()
            except Exception:  # noqa: BLE001 - keep the tray alive; next event retries
                log.exception("tray: could not collect the token state")
                continue
            self.state = state
            self._apply()

    def _collect(self) -> TrayState:
        return tray_state(self.model.snapshot(), notifications=self.config.notifications,
                          root_prompt=self.root_prompt is not None)

    def loop_running(self) -> bool:
        """True while the GLib loop runs (it also delivers notification actions)."""
        return self._ready.is_set() and not self.headless and not self._stopping.is_set()

    def refresh(self) -> None:
        """Rebuild the menu soon (after a config change, a child dialog, …)."""
        self._wake.set()

    # -- state -> indicator ------------------------------------------------------------
    def _apply(self, force: bool = False) -> None:
        with self._apply_lock:  # the refresher and the loop's start both apply
            if force:
                self._applied = None
            self._apply_locked()

    def _apply_locked(self) -> None:
        state = self.state
        icon_state = tray_menu.icon_state(state)
        title = tray_menu.tooltip(state)
        menu = tray_menu.build_menu(state)
        if self._applied == (icon_state, title, menu):
            return
        self._applied = (icon_state, title, menu)
        # Tests and bug reports read this line; it never carries secrets.
        log.info("tray: icon=%s tooltip=%r menu=%s", icon_state, title,
                 [e.text for _d, e in tray_menu.flatten(menu) if not e.separator])
        indicator = self.indicator
        if indicator is not None and self._ready.is_set():
            indicator.update(icon_state, title, menu)

    # -- actions ------------------------------------------------------------------------
    def perform(self, action: Action) -> None:
        """Run a menu action. Called on the GTK thread: only quick, non-blocking work."""
        log.info("tray: action %s %s", action.kind, " ".join(action.args))
        if action.kind == "ui":
            self.launcher.ui(*action.args, on_exit=lambda _rc: self.refresh())
        elif action.kind == "notifications":
            self._toggle_notifications()
        elif action.kind == "root_install":
            # The root prompt shows the セキュリティ警告 (subject + SHA-256) itself, in its
            # own child dialog, on its own thread; asking again includes declined roots.
            if self.root_prompt is not None:
                for token in self.state.tokens:
                    self.root_prompt.offer_again(token.serial)
        elif action.kind == "quit":
            self.launcher.ui("confirm-exit", on_exit=self._on_confirm_exit)

    def _on_confirm_exit(self, rc: int) -> None:
        if rc == 0:
            log.info("tray: exit confirmed")
            self.request_stop()

    def _toggle_notifications(self) -> None:
        new = not self.config.notifications
        self.config.notifications = new
        try:
            config_mod.save_value("notifications", new)
        except OSError as exc:
            log.error("tray: could not save the notification setting: %s", exc)
        self.refresh()

    # -- main loop ----------------------------------------------------------------------
    def run_main_loop(self) -> None:
        """Block on the main thread until `stop_main_loop()`."""
        if self._stopping.is_set():
            return
        try:
            self._run_icon()
        except Exception as exc:  # noqa: BLE001 - no display / D-Bus / toolkit
            if self._stopping.is_set():
                log.debug("tray: error while stopping the icon: %s", exc)
                return
            self._go_headless(f"{type(exc).__name__}: {exc}")
            self._run_headless()
        finally:
            self._loop_done.set()

    def _run_icon(self) -> None:
        if not has_display():
            raise RuntimeError("no DISPLAY")
        from gi.repository import Gio, GLib

        from trayd import icons
        from trayd.ui import tray_indicator

        # AppIndicator needs the session bus (it exports the item and its menu there).
        Gio.bus_get_sync(Gio.BusType.SESSION, None)
        GLib.set_prgname("trayd")
        theme = icons.ensure_theme()
        if theme is None:
            log.warning("tray: trayd's icon theme is missing; the icon may be blank")
        indicator = tray_indicator.create(self.perform, str(theme) if theme and
                                          theme != icons.SYSTEM_THEME else "")
        self.backend = indicator.backend
        present, what = tray_host_present()
        log.info("tray: backend %s (pystray), icon theme %s, tray host: %s", self.backend,
                 theme or "-", what)
        if not present:
            self._announce_no_tray(_("No system tray was found."))
        if self._stopping.is_set():
            return
        indicator.show(tray_menu.icon_state(self.state), tray_menu.tooltip(self.state),
                       tray_menu.build_menu(self.state))
        self.indicator = indicator

        def started(_icon: Any) -> None:  # pystray's setup callback, on its own thread
            self._ready.set()
            self._apply(force=True)
            log.info("tray: icon shown")

        if self._stopping.is_set():  # a stop that came before the indicator existed
            return
        indicator.run(started)

    def _go_headless(self, why: str) -> None:
        self.headless = True
        self.indicator = None
        log.warning("tray: no tray icon (%s); running without one", why)
        self._announce_no_tray(_("The tray icon cannot be shown."))

    _announced = False

    def _announce_no_tray(self, what: str) -> None:
        """Say once that there is no tray, and where the features are instead."""
        if self._announced:
            return
        self._announced = True
        body = _("trayd keeps running and shows notifications. Open the management tool "
                 "from the applications menu or with `trayd manage`.")
        log.warning("tray: %s %s", what, body)
        try:
            self.notify(what, body, "none")
        except Exception:  # noqa: BLE001 - the log line above already said it
            log.debug("tray: notification failed", exc_info=True)

    def _run_headless(self) -> None:
        """No toolkit loop: wait for stop with Python's signal handling intact."""
        installed: list[tuple[int, Any]] = []
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                prev = signal.getsignal(sig)
                if prev in (signal.SIG_DFL, signal.default_int_handler, None):
                    installed.append((sig, prev))
                    signal.signal(sig, lambda s, _f: self.request_stop())
        try:
            while not self._headless_stop.wait(0.5):
                pass
        finally:
            for sig, prev in installed:
                signal.signal(sig, prev)

    def stop_main_loop(self) -> None:
        """Make `run_main_loop()` return (any thread; queued onto the GLib loop)."""
        self._stopping.set()
        self._headless_stop.set()
        indicator = self.indicator
        if indicator is not None:
            indicator.quit()

