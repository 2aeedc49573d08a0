"""The tray icon itself: a pystray.Icon whose backends show icons by theme name.

Why pystray: it is the tray library of the design (one `Icon` with a title, a Pillow
image and a `Menu`/`MenuItem` model with submenus, check items and callbacks, and a
backend per desktop: AppIndicator, else Gtk.StatusIcon). trayd's menu (`tray_menu.Entry`
trees) becomes a pystray.Menu; pystray turns that into the Gtk.Menu that libayatana
exports over com.canonical.dbusmenu (and shows itself in its XEmbed fallback).

Why its backends are subclassed: every current desktop shows tray icons as a
StatusNotifierItem, which names its icon from an icon theme. Stock pystray saves the
Pillow image to a new temporary PNG on every change and hands AppIndicator that path
(`IconName='/tmp/tmpXXXX'`), which sandboxed and remote hosts cannot read and which
ignores the theme and HiDPI. Here `_update_icon`/`_update_title`/`_show` give
AppIndicator the theme *name* (trayd.icons.NAMES, the same Pillow drawing installed as
trayd's hicolor theme) with `IconThemePath`, and the state in words as its title and
accessible description; the Gtk.StatusIcon fallback takes the same name from that theme.
pystray's `_update_fs_icon` is never called: nothing is written to disk.

The subclasses use pystray 0.19's backend internals (`_appindicator`, `_status_icon`,
`_menu_handle`, `mainloop`), hence `pystray>=0.19.5,<0.20` in pyproject.toml.

Also not taken from pystray: its `_run` resets SIGINT to SIG_DFL (the agent handles its
stop signals itself) and starts a second notification client (trayd has its own).

Threads: pystray's `run(setup)` owns the main thread's GLib loop and calls `setup(icon)`
on its setup thread once the loop is ready; `show()` runs on the GTK thread (or before
`run()`); `update()` and `quit()` may be called from any thread (queued onto the loop).
"""
from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

from trayd.icons import NAMES, render_icon
from trayd.ui.sni_watch import WatcherFollower
from trayd.ui.tray_menu import Action, Entry

log = logging.getLogger(__name__)


class Indicator(Protocol):
    """What the tray component (trayd.ui.tray) uses of the icon."""

    backend: str

    def show(self, icon_state: str, title: str, entries: tuple[Entry, ...]) -> None: ...

    def run(self, setup: Callable[[Any], None] | None = None) -> None: ...

    def update(self, icon_state: str, title: str, entries: tuple[Entry, ...]) -> None: ...

    def quit(self) -> None: ...


def load_appindicator() -> Any:
    """The AppIndicator module (Ayatana's, or Ubuntu's older name); ImportError if none."""
    import gi

    gi.require_version("Gtk", "3.0")
    for name in ("AyatanaAppIndicator3", "AppIndicator3"):
        try:
            gi.require_version(name, "0.1")
            module = __import__("gi.repository", fromlist=[name])
            return getattr(module, name)
        except (ValueError, ImportError, AttributeError):
            continue
    raise ImportError("no AppIndicator typelib (package gir1.2-ayatanaappindicator3-0.1)")


def _quiet_deprecation() -> None:
    """libayatana 0.5.94 (Debian 13) g_warns on every Indicator.new(): not ours to fix."""
    from gi.repository import GLib

    def drop(domain: str, level: Any, message: str, _data: Any = None) -> None:
        if "deprecated" not in (message or "").lower():
            log.warning("%s: %s", domain, message)

    for domain in ("libayatana-appindicator", "libayatana-appindicator-gtk"):
        GLib.log_set_handler(domain, GLib.LogLevelFlags.LEVEL_WARNING, drop, None)


def _pystray_backend(name: str) -> Any:
    """pystray's backend module `pystray._<name>`.

    `import pystray` picks and imports a default backend (PYSTRAY_BACKEND, else
    appindicator → gtk → xorg); without the AppIndicator typelib its appindicator module
    raises ValueError, which pystray does not catch. So the package is first imported
    with PYSTRAY_BACKEND set to the backend chosen here."""
    saved = os.environ.get("PYSTRAY_BACKEND")
    os.environ["PYSTRAY_BACKEND"] = name
    try:
        return importlib.import_module(f"pystray._{name}")
    finally:
        if saved is None:
            os.environ.pop("PYSTRAY_BACKEND", None)
        else:
            os.environ["PYSTRAY_BACKEND"] = saved


def pystray_menu(entries: tuple[Entry, ...], on_action: Callable[[Action], None]) -> Any:
    """The pystray.Menu for a `tray_menu.Entry` tree (needs pystray imported)."""
    import pystray

    def callback(action: Action | None) -> Callable[[Any, Any], None] | None:
        if action is None:
            return None

        def run(_icon: Any, _item: Any) -> None:  # pystray passes (icon, item)
            on_action(action)
        return run

    def item(e: Entry) -> Any:
        if e.separator:
            return pystray.Menu.SEPARATOR
        if e.submenu:
            return pystray.MenuItem(e.text, pystray.Menu(*map(item, e.submenu)),
                                    enabled=e.enabled)
        checked = None if e.checked is None else (lambda _i, v=e.checked: v)
        return pystray.MenuItem(e.text, callback(e.action), checked=checked,
                                enabled=e.enabled)

    return pystray.Menu(*map(item, entries))


class _TraydIcon:
    """trayd's side of both backends (mixed into a pystray backend's Icon)."""

    backend = "?"
    _icon_name = ""
    _theme_path = ""
    _on_action: Callable[[Action], None]
    _loop: Any
    visible: bool
    title: str
    icon: Any
    menu: Any
    stop: Callable[[], None]  # pystray.Icon's (the backend, later in the MRO)
    _mark_ready: Callable[[], None]

    def show(self, icon_state: str, title: str, entries: tuple[Entry, ...]) -> None:
        """Icon, title and menu through pystray's properties (GTK thread, or before run).

        The image is the Pillow drawing of the theme icon: pystray needs one to show
        anything; the overridden `_update_icon` shows it by its theme name instead."""
        self._icon_name = NAMES[icon_state]
        self.title = title
        self.icon = render_icon(icon_state)
        self.menu = pystray_menu(entries, self._on_action)
        if not self.visible:
            self.visible = True

    def update(self, icon_state: str, title: str, entries: tuple[Entry, ...]) -> None:
        from gi.repository import GLib

        GLib.idle_add(lambda: (self.show(icon_state, title, entries), False)[1])

    def quit(self) -> None:
        """pystray's `stop()` on the loop (queued, so a quit before `run()` still ends it:
        the loop is marked ready before it starts)."""
        from gi.repository import GLib

        GLib.idle_add(lambda: (self.stop(), False)[1])

    def _run(self) -> None:
        """pystray's GtkIcon._run without its SIGINT reset and its own notifier."""
        from gi.repository import GLib

        self._loop = GLib.MainLoop.new(None, False)
        self._mark_ready()  # releases pystray's setup thread (our `setup` callback)
        try:
            self._loop.run()
        finally:
            self._loop = None
            self._hide_now()

    def _hide_now(self) -> None:
        """Hide synchronously (the loop has ended, queued calls would never run)."""


@lru_cache(maxsize=1)
def _appindicator_icon() -> type:
    """pystray's AppIndicator Icon, with the icon by theme name (class made on first use:
    importing pystray's backend needs a display)."""
    base = _pystray_backend("appindicator")
    mainloop, ai = base.mainloop, base.AppIndicator

    class AppIndicatorIcon(_TraydIcon, base.Icon):  # type: ignore[misc, valid-type]
        backend = "appindicator"

        def __init__(self, on_action: Callable[[Action], None], theme_path: str) -> None:
            self._on_action, self._theme_path = on_action, theme_path
            _quiet_deprecation()
            super().__init__("trayd")
            if theme_path:
                self._appindicator.set_icon_theme_path(theme_path)
            # libayatana never retries a registration a starting watcher refused.
            self._watcher = WatcherFollower(self._appindicator)

        def _set_icon(self) -> None:
            if self._theme_path:
                self._appindicator.set_icon_theme_path(self._theme_path)
            self._appindicator.set_icon_full(self._icon_name, self.title)
            self._icon_valid = True

        @mainloop
        def _show(self) -> None:
            self._set_icon()
            self._appindicator.set_menu(self._menu_handle or self._create_default_menu())
            self._appindicator.set_title(self.title)
            self._appindicator.set_status(ai.IndicatorStatus.ACTIVE)
            self._set_xembed_tooltip(0)

        @mainloop
        def _update_icon(self) -> None:
            self._set_icon()

        @mainloop
        def _update_title(self) -> None:
            self._set_icon()
            self._appindicator.set_title(self.title)
            self._set_xembed_tooltip(0)

        def _hide_now(self) -> None:
            self._watcher.close()
            self._appindicator.set_status(ai.IndicatorStatus.PASSIVE)

        def _set_xembed_tooltip(self, attempt: int) -> bool:
            """Tooltip for AppIndicator's XEmbed fallback icon.

            SNI hosts show the title as the tooltip; the XEmbed icon that AppIndicator
            uses under a plain system tray (trayer, xfce4-panel, …) shows nothing on
            hover. Its embedded window is a GtkTrayIcon plug of this process, so set the
            tooltip there. AppIndicator creates it asynchronously (after looking for a
            watcher): retry for a few seconds until it exists."""
            from gi.repository import GLib, Gtk

            found = False
            for window in Gtk.Window.list_toplevels():
                if type(window).__name__ == "GtkTrayIcon":
                    window.set_tooltip_text(self.title)
                    found = True
            if not found and attempt < 40 and self._loop is not None:
                GLib.timeout_add(250, self._set_xembed_tooltip, attempt + 1)
            return False

    return AppIndicatorIcon


@lru_cache(maxsize=1)
def _status_icon() -> type:
    """pystray's Gtk.StatusIcon backend (XEmbed only), icon by name from trayd's theme."""
    base = _pystray_backend("gtk")
    mainloop = base.mainloop
    from gi.repository import Gtk

    class StatusIcon(_TraydIcon, base.Icon):  # type: ignore[misc, valid-type]
        """Where no AppIndicator library is installed, or TRAYD_TRAY_BACKEND=gtk
        (tests). Same menu; the tooltip is the title."""

        backend = "gtk"

        def __init__(self, on_action: Callable[[Action], None], theme_path: str) -> None:
            self._on_action, self._theme_path = on_action, theme_path
            if theme_path:
                Gtk.IconTheme.get_default().append_search_path(theme_path)
            super().__init__("trayd")
            self._status_icon.set_name("trayd")

        @mainloop
        def _show(self) -> None:
            self._status_icon.set_from_icon_name(self._icon_name)
            self._status_icon.set_title(self.title)
            self._status_icon.set_tooltip_text(self.title)
            self._status_icon.set_visible(True)

        @mainloop
        def _update_icon(self) -> None:
            self._status_icon.set_from_icon_name(self._icon_name)
            self._icon_valid = True

        @mainloop
        def _update_title(self) -> None:
            self._status_icon.set_title(self.title)
            self._status_icon.set_tooltip_text(self.title)

        def _on_status_icon_activate(self, status_icon: Any) -> None:
            """A left click opens the menu too (pystray: the default item; we have none)."""
            self._on_status_icon_popup_menu(status_icon, 1, Gtk.get_current_event_time())

        def _hide_now(self) -> None:
            self._status_icon.set_visible(False)

    return StatusIcon


def create(on_action: Callable[[Action], None], theme_path: str = "") -> Indicator:
    """pystray's AppIndicator backend where its library is installed, else its
    Gtk.StatusIcon backend; both show the icon by name from `theme_path`."""
    import gi

    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk

    if not Gtk.init_check()[0]:
        raise RuntimeError("GTK could not open the display")
    if os.environ.get("TRAYD_TRAY_BACKEND") != "gtk":
        try:
            load_appindicator()
            icon: Indicator = _appindicator_icon()(on_action, theme_path)
            return icon
        except ImportError as exc:
            log.warning("tray: %s; falling back to a plain XEmbed icon", exc)
    icon = _status_icon()(on_action, theme_path)
    return icon
