"""Agent component: the tray icon, owner of the agent's main thread.

Why this shape:
- The icon is a pystray.Icon (`trayd.ui.tray_indicator`: its AppIndicator backend, else
  its Gtk.StatusIcon one); pystray's `run()` needs the main thread and a GLib loop, so the
  tray is the agent's main-loop owner: `run_main_loop()` blocks in that loop until
  `stop_main_loop()`. GTK iterates GLib's default context, the agent's one loop
  (`trayd.platform.loop`): the bus, the notifications, the signal watcher and this tray's
  handlers all run there, on the main thread; only the PC/SC waiter, the PKCS#11
  worker and the IPC server block, on their own threads.
- The icon is shown by theme name (trayd.icons.NAMES) from trayd's hicolor theme: over
  StatusNotifierItem where a watcher runs, else as an XEmbed icon; libayatana moves it
  when a watcher comes or goes.
- The menu is rebuilt from a `TrayState` (see `trayd.ui.tray_menu`) on each change of
  the agent's token model, on the loop: `trayd.ui.tray_model` derives the state from
  the model's snapshot (no token service call, no APDU), so the loop never waits for
  a token.
- Menu actions open windows through the agent's one launcher
  (`trayd.platform.launcher`: dialogs never run in the agent, a PIN never passes
  through the tray, every window speaks the agent's language).
- No display, no D-Bus session or no tray host: the agent says so once (log and one
  notification), `run_main_loop()` returns and the agent runs the same loop headless.
"""
from __future__ import annotations

import logging
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
        self._stopping = False  # set from any thread; a bool write is atomic
        self._ready = False  # the icon is shown (set on the loop)
        self._unsubscribe: list[Callable[[], None]] = []

    # -- component protocol ---------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe.append(self.model.subscribe(self._on_change))
        self.refresh()

    def stop(self) -> None:
        self._stopping = True
        for unsub in self._unsubscribe:
            unsub()
        self._unsubscribe.clear()
        self.launcher.stop_all(timeout=0.3)
        self.stop_main_loop()

    # -- model -> state ---------------------------------------------------------------
    def _on_change(self, change: Change) -> None:
        """A token-model change (the loop): rebuild the menu."""
        self.refresh()

    def loop_running(self) -> bool:
        """True while the tray's GTK loop runs (a display: notification actions can open
        windows)."""
        return self._ready and not self.headless and not self._stopping

    def refresh(self) -> None:
        """Rebuild the state and the menu (the loop: after a model change, a config
        change, a child dialog)."""
        if self._stopping:
            return
        try:
            self.state = tray_state(self.model.snapshot(),
                                    notifications=self.config.notifications,
                                    root_prompt=self.root_prompt is not None)
        except Exception:  # noqa: BLE001 - keep the tray alive; the next change retries
            log.exception("tray: could not collect the token state")
            return
        self._apply()

    # -- state -> indicator ------------------------------------------------------------
    def _apply(self, force: bool = False) -> None:
        """Show `self.state` if it changed (the loop)."""
        if force:
            self._applied = None
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
        if indicator is not None and self._ready:
            indicator.update(icon_state, title, menu)

    # -- actions ------------------------------------------------------------------------
    def perform(self, action: Action) -> None:
        """Run a menu action. Called on the loop (GTK's): only quick, non-blocking work."""
        log.info("tray: action %s %s", action.kind, " ".join(action.args))
        if action.kind == "ui":
            self.launcher.ui(*action.args, on_exit=lambda _rc: self.refresh())
        elif action.kind == "notifications":
            self._toggle_notifications()
        elif action.kind == "root_install":
            # The root prompt shows the セキュリティ警告 (subject + SHA-256) itself, in its
            # own child dialog; asking again includes declined roots.
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
        """Block on the main thread until `stop_main_loop()`; return at once if the icon
        cannot be shown (the agent then runs the same loop itself)."""
        if self._stopping:
            return
        try:
            self._run_icon()
        except Exception as exc:  # noqa: BLE001 - no display / D-Bus / toolkit
            if self._stopping:
                log.debug("tray: error while stopping the icon: %s", exc)
                return
            self._go_headless(f"{type(exc).__name__}: {exc}")

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
        if self._stopping:
            return
        indicator.show(tray_menu.icon_state(self.state), tray_menu.tooltip(self.state),
                       tray_menu.build_menu(self.state))
        self.indicator = indicator

        def shown() -> bool:
            self._ready = True
            self._apply(force=True)
            log.info("tray: icon shown")
            return False

        def started(_icon: Any) -> None:  # pystray's setup callback, on its own thread
            GLib.idle_add(shown)

        if self._stopping:  # a stop that came before the indicator existed
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

    def stop_main_loop(self) -> None:
        """Make `run_main_loop()` return (any thread; queued onto the GLib loop)."""
        self._stopping = True
        indicator = self.indicator
        if indicator is not None:
            indicator.quit()

