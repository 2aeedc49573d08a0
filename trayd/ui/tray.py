"""Agent plug-in: the tray icon (pystray), owner of the agent's main thread.

Why this shape:
- pystray's GTK backends (appindicator, then gtk) need the main thread and a GLib loop,
  so the tray is the agent's main-loop owner: `run_main_loop()` blocks in pystray's loop
  until `stop_main_loop()`. Everything else (PC/SC monitor, PKCS#11 worker, socket) runs
  on its own threads.
- Signals: the agent turns SIGTERM/SIGINT/SIGHUP into `request_stop()` through
  `set_wakeup_fd` and a watcher thread, which works while GTK sleeps in C; but pystray
  resets SIGINT to SIG_DFL when its loop starts (Ctrl-C would kill the agent without
  clean-up), so the tray puts the previous handlers back from inside the loop.
- The menu is rebuilt from a `TrayState` (see `trayd.ui.tray_menu`) by a refresher
  thread woken by bus events; it asks the agent's token service (which may take over a
  second to bind a token) and hands the finished menu to pystray, whose setters queue the
  change onto the GTK loop. The GTK thread never waits for a token.
- Menu actions start child processes through the agent's `trayd.platform.launcher` (dialogs never run in
  the agent; a PIN never passes through the tray).
- No display, no D-Bus session or no tray host: the agent says so once (log and one
  notification) and keeps running headless with its notifications.
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from trayd import config as config_mod
from trayd.events import (
    CardInserted,
    CardRemoved,
    Event,
    ServiceDown,
    ServiceUp,
    TokenIdentified,
    TokenStateChanged,
)
from trayd.i18n import _, current_language
from trayd.ui import tray_menu
from trayd.platform.launcher import Launcher
from trayd.ui.tray_menu import Action, CertView, Entry, TokenView, TrayState

log = logging.getLogger(__name__)

ICON_SIZE = 64
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _root_prompt(agent: Any) -> Any:
    """The trust engineer's root-certificate prompt component, if the agent runs one."""
    find = getattr(agent, "component", None)
    comp = find("root_prompt") if callable(find) else None
    return comp if comp is not None and hasattr(comp, "offer_again") else None


def _token_service(agent: Any) -> Any:
    from trayd.ipc.server import find_token_service

    return find_token_service(agent)


def tray_host_present(display: str | None = None) -> tuple[bool, str]:
    """(present, what): an XEmbed tray (`_NET_SYSTEM_TRAY_S<n>` owner) or a
    StatusNotifierWatcher on the session bus. Used only to tell the user once."""
    found: list[str] = []
    try:
        from Xlib import X
        from Xlib import display as xdisplay

        d = xdisplay.Display(display)
        try:
            atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
            owner = d.get_selection_owner(atom)
            if owner not in (X.NONE, 0) and getattr(owner, "id", owner) != 0:
                found.append("xembed")
        finally:
            d.close()
    except Exception as exc:  # noqa: BLE001 - no X at all is an answer too
        log.debug("tray: no X tray check: %s", exc)
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        for name in ("org.kde.StatusNotifierWatcher", "org.freedesktop.StatusNotifierWatcher"):
            reply = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                  "org.freedesktop.DBus", "NameHasOwner",
                                  GLib.Variant("(s)", (name,)), GLib.VariantType("(b)"),
                                  Gio.DBusCallFlags.NONE, 1000, None)
            if reply.unpack()[0]:
                found.append("sni")
                break
    except Exception as exc:  # noqa: BLE001
        log.debug("tray: no StatusNotifierWatcher check: %s", exc)
    return bool(found), "+".join(found) or "none"


class TrayComponent:
    """The tray icon and its menu; the agent's main-loop owner."""

    name = "tray"

    def __init__(self, agent: Any, launcher: Launcher | None = None) -> None:
        self.agent = agent
        # The agent's one launcher: windows open in the agent's language.
        self.launcher = launcher or getattr(agent, "launcher", None) or Launcher(
            getattr(agent, "language", None) or current_language())
        self.icon: Any = None  # pystray.Icon once the loop runs
        self.headless = False
        self.backend = "none"
        self.state = TrayState()
        self._applied: tuple[str, str, tuple[Entry, ...]] | None = None
        self._tooltip = ""
        self._cards: dict[str, str | None] = {}  # reader -> model, cards present
        self._identified: dict[str, TokenView] = {}  # serial -> view from events
        self._service_down = False
        self._service_denied = False
        # Ask the token service on the next refresh? Not for a bare CardInserted: the
        # token component is binding that token right now and posts TokenIdentified.
        self._need_service = True
        self._last_tokens: tuple[TokenView, ...] = ()
        # Certificates per token serial: they do not change while the token stays in, and
        # every read goes through the card's secure messaging (a login must not wait).
        self._certs: dict[str, tuple[CertView, ...]] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._loop_done = threading.Event()
        self._headless_stop = threading.Event()
        self._ready = threading.Event()
        self._unsubscribe: list[Callable[[], None]] = []
        self._refresher: threading.Thread | None = None
        self._lock = threading.Lock()
        self._apply_lock = threading.Lock()

    # -- component protocol ---------------------------------------------------------
    def start(self, agent: Any = None) -> None:
        agent = agent or self.agent
        bus = getattr(agent, "bus", None)
        if bus is not None:
            for kind in (CardInserted, CardRemoved, TokenIdentified, TokenStateChanged,
                         ServiceDown, ServiceUp):
                self._unsubscribe.append(bus.subscribe(kind, self._on_event))
        for reader, model in self._initial_cards(agent):
            self._cards[reader] = model
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

    @staticmethod
    def _initial_cards(agent: Any) -> list[tuple[str, str | None]]:
        """Cards already present when the tray starts (from `agent.readers`, if any)."""
        readers = getattr(agent, "readers", None)
        if readers is None:
            return []
        try:
            items = readers() if callable(readers) else readers
            if isinstance(items, dict):
                items = items.values()
            out = []
            for r in items:
                name = getattr(r, "name", None) or getattr(r, "reader", None)
                present = getattr(r, "card_present", getattr(r, "present", False))
                if name and present:
                    out.append((name, getattr(r, "model", None)))
            return out
        except Exception:  # noqa: BLE001 - the menu fills in on the next event anyway
            log.debug("tray: agent.readers unreadable", exc_info=True)
            return []

    # -- events -> state --------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        """Runs on the posting thread: record the fact, wake the refresher, return."""
        with self._lock:
            if not isinstance(ev, CardInserted):
                self._need_service = True
            if isinstance(ev, CardInserted):
                self._cards[ev.reader] = ev.model
            elif isinstance(ev, CardRemoved):
                self._cards.pop(ev.reader, None)
                for serial, view in list(self._identified.items()):
                    if view.reader == ev.reader:
                        del self._identified[serial]
                self._certs = {k: v for k, v in self._certs.items()
                               if k in self._identified}
            elif isinstance(ev, TokenIdentified):
                self._identified[ev.serial] = TokenView(ev.serial, ev.label, ev.reader)
                self._certs.pop(ev.serial, None)
                self._cards.setdefault(ev.reader, ev.model)
            elif isinstance(ev, TokenStateChanged):
                view = self._identified.get(ev.serial)
                if view is not None:
                    self._identified[ev.serial] = TokenView(
                        view.serial, view.label, view.reader, ev.logged_in, ev.locked,
                        view.certificates)
            elif isinstance(ev, ServiceDown):
                self._service_down = True
                self._service_denied = ev.denied
                self._cards.clear()
                self._identified.clear()
            elif isinstance(ev, ServiceUp):
                self._service_down = False
        self._wake.set()

    def _refresh_loop(self) -> None:
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
        """Ask the token service (slow, off the GTK thread) and merge with the events."""
        with self._lock:
            cards = dict(self._cards)
            identified = dict(self._identified)
            service_down = self._service_down
            service_denied = self._service_denied
            need_service, self._need_service = self._need_service, False
        tokens: list[TokenView] = []
        service = _token_service(self.agent)
        if not need_service:
            tokens = [t for t in self._last_tokens if t.reader in cards]
        elif service is not None and cards and not service_down:
            try:
                infos = service.list_tokens()
            except Exception as exc:  # noqa: BLE001 - typed errors from the service
                log.info("tray: token list unavailable: %r", exc)
                infos = None
            if infos is not None:
                for info in infos:
                    with self._lock:
                        certs = self._certs.get(info.serial)
                    if certs is None:
                        try:
                            certs = tuple(
                                CertView(c.id, c.label, c.certificate_id)
                                for c in service.list_certificates(info.serial))
                            with self._lock:
                                self._certs[info.serial] = certs
                        except Exception as exc:  # noqa: BLE001
                            log.info("tray: certificates of %s unavailable: %r",
                                     info.serial, exc)
                            certs = ()
                    tokens.append(TokenView(info.serial, info.label, info.reader,
                                            bool(info.logged_in), bool(info.locked), certs))
        if not tokens:
            tokens = [v for v in identified.values() if v.reader in cards]
        self._last_tokens = tuple(tokens)
        known_readers = {t.reader for t in tokens}
        # Recognised tokens the service has not read yet; an unknown card is not a token.
        pending = tuple(sorted(r for r, model in cards.items()
                               if model and r not in known_readers))
        cfg = getattr(self.agent, "config", None)
        return TrayState(
            tokens=tuple(sorted(tokens, key=lambda t: (t.reader, t.serial))),
            pending_readers=pending,
            service_down=service_down,
            service_denied=service_denied,
            notifications=bool(getattr(cfg, "notifications", True)),
            root_install_available=bool(tokens) and _root_prompt(self.agent) is not None,
        )

    def refresh(self) -> None:
        """Rebuild the menu soon (after a config change, a child dialog, …)."""
        self._wake.set()

    # -- state -> pystray ------------------------------------------------------------
    def _apply(self, force: bool = False) -> None:
        with self._apply_lock:  # the refresher and pystray's setup thread both apply
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
        previous = self._applied
        self._applied = (icon_state, title, menu)
        # Tests and bug reports read this line; it never carries secrets.
        log.info("tray: icon=%s tooltip=%r menu=%s", icon_state, title,
                 [e.text for _d, e in tray_menu.flatten(menu) if not e.separator])
        icon = self.icon
        if icon is None or not self._ready.is_set():
            return
        from trayd.icons import render_icon

        if previous is None or previous[0] != icon_state:
            icon.icon = render_icon(icon_state, ICON_SIZE)
        icon.title = title
        icon.menu = self._pystray_menu(menu)
        from gi.repository import GLib

        self._tooltip = title
        GLib.idle_add(self._set_xembed_tooltip, 0)

    def _set_xembed_tooltip(self, attempt: int) -> bool:
        """Tooltip for the XEmbed icon (GTK thread).

        pystray only sets the icon's *title*: StatusNotifier hosts (KDE, GNOME's
        AppIndicator extension) show that as the tooltip, but the XEmbed fallback that
        AppIndicator uses under a plain system tray (trayer, xfce4-panel, …) shows
        nothing on hover. Its embedded window is a GtkTrayIcon plug of this process, so
        set the tooltip there. AppIndicator creates that fallback asynchronously (after
        looking for a StatusNotifierWatcher), so retry for a few seconds until it exists.
        """
        from gi.repository import GLib, Gtk

        found = False
        for window in Gtk.Window.list_toplevels():
            if type(window).__name__ == "GtkTrayIcon":
                window.set_tooltip_text(self._tooltip)
                found = True
        if not found and attempt < 40 and not self._stopping.is_set():
            GLib.timeout_add(250, self._set_xembed_tooltip, attempt + 1)
        return False

    def _pystray_menu(self, entries: tuple[Entry, ...]) -> Any:
        import pystray

        def item(e: Entry) -> Any:
            if e.separator:
                return pystray.Menu.SEPARATOR
            if e.submenu:
                return pystray.MenuItem(e.text, pystray.Menu(*[item(s) for s in e.submenu]),
                                        enabled=e.enabled)
            action = e.action

            def on_click(_icon: Any, _item: Any) -> None:
                if action is not None:
                    self.perform(action)

            checked = None if e.checked is None else (lambda _i, v=e.checked: v)
            return pystray.MenuItem(e.text, on_click, enabled=e.enabled, checked=checked)

        return pystray.Menu(*[item(e) for e in entries])

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
            prompt = _root_prompt(self.agent)
            if prompt is not None:
                for token in self.state.tokens:
                    prompt.offer_again(token.serial)
        elif action.kind == "quit":
            self.launcher.ui("confirm-exit", on_exit=self._on_confirm_exit)

    def _on_confirm_exit(self, rc: int) -> None:
        if rc == 0:
            log.info("tray: exit confirmed")
            self.agent.request_stop()

    def _toggle_notifications(self) -> None:
        cfg = getattr(self.agent, "config", None)
        new = not bool(getattr(cfg, "notifications", True))
        if cfg is not None:
            cfg.notifications = new
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
                # pystray's clean-up failed on the way out (it closes its own
                # notification over D-Bus and raises if no server answers): done anyway.
                log.debug("tray: error while stopping the icon: %s", exc)
                return
            self._go_headless(f"{type(exc).__name__}: {exc}")
            self._run_headless()
        finally:
            self._loop_done.set()

    def _run_icon(self) -> None:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise RuntimeError("no DISPLAY")
        import pystray  # lazily: it needs a display at import time
        from gi.repository import Gio, GLib

        from trayd.icons import render_icon

        # pystray's GTK backends need the session bus (they fail inside run() without it,
        # leaving a non-daemon setup thread behind): check first.
        Gio.bus_get_sync(Gio.BusType.SESSION, None)
        GLib.set_prgname("trayd")
        self.backend = pystray.Icon.__module__.rsplit("._", 1)[-1]
        icon_state = tray_menu.icon_state(self.state)
        self.icon = pystray.Icon("trayd", render_icon(icon_state, ICON_SIZE),
                                 tray_menu.tooltip(self.state),
                                 menu=self._pystray_menu(tray_menu.build_menu(self.state)))
        present, what = tray_host_present()
        log.info("tray: pystray backend %s, tray host: %s", self.backend, what)
        if not present:
            self._announce_no_tray(_("No system tray was found."))
        saved = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        GLib.idle_add(self._restore_signal_handlers, saved)

        def setup(icon: Any) -> None:
            if self.headless:
                return
            icon.visible = True
            self._ready.set()
            self._apply(force=True)
            log.info("tray: icon shown")

        if self._stopping.is_set():
            return
        try:
            self.icon.run(setup)
        except BaseException:
            # Release pystray's setup thread (non-daemon, waiting for "ready").
            self.headless = True
            queue = getattr(self.icon, "_Icon__queue", None)
            if queue is not None:
                queue.put(True)
            raise

    def _restore_signal_handlers(self, saved: dict[int, Any]) -> bool:
        """Inside the GLib loop: undo pystray's `signal(SIGINT, SIG_DFL)`.

        The agent routes SIGTERM/SIGINT/SIGHUP to `request_stop()` with Python handlers
        plus `set_wakeup_fd` and a watcher thread, which works while GTK sleeps in C; but
        pystray resets SIGINT to the default action (kill at once, no cleanup: the socket
        file would stay behind). Put back whatever was there before the loop started.
        Without an agent handler, stop through `_request_stop` (GLib's signal source).
        """
        from gi.repository import GLib

        if self._stopping.is_set() and self.icon is not None:
            # A stop request raced the loop's start (pystray ignores stop() before run).
            self.icon.stop()
            return False
        for sig, handler in saved.items():
            if callable(handler):
                if signal.getsignal(sig) is not handler:
                    signal.signal(sig, handler)
            else:
                GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, self._on_stop_signal, sig)
        return False

    def _on_stop_signal(self, sig: int) -> bool:
        log.info("tray: signal %d, stopping", sig)
        self._request_stop()
        return True

    def _request_stop(self) -> None:
        request = getattr(self.agent, "request_stop", None)
        if request is not None:
            request()
        else:
            self.stop_main_loop()

    def _go_headless(self, why: str) -> None:
        self.headless = True
        self.icon = None
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
        notify = getattr(self.agent, "notify", None)
        if notify is not None:
            try:
                notify(what, body, "none")
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
                    signal.signal(sig, lambda s, _f: self._request_stop())
        try:
            while not self._headless_stop.wait(0.5):
                pass
        finally:
            for sig, prev in installed:
                signal.signal(sig, prev)

    def stop_main_loop(self) -> None:
        """Make `run_main_loop()` return (any thread; pystray queues it onto GTK)."""
        self._stopping.set()
        self._headless_stop.set()
        icon = self.icon
        if icon is not None:
            try:
                icon.stop()
            except Exception:  # noqa: BLE001 - stopping twice or before run
                log.debug("tray: icon.stop failed", exc_info=True)


def create(agent: Any) -> TrayComponent | None:
    """Plug-in entry point used by `trayd run` (unless `--no-tray`): the tray is the
    agent's main-loop owner."""
    component = TrayComponent(agent)
    set_owner = getattr(agent, "set_main_loop_owner", None)
    if set_owner is not None:
        set_owner(component)
    return component
