"""The tray icon itself: libayatana-appindicator through GObject introspection.

Why AppIndicator directly (pystray before): every current desktop shows tray icons as a
StatusNotifierItem, which names its icon from an icon theme. pystray hands AppIndicator a
new temporary PNG path on every change (`IconName='/tmp/tmpXXXX'`), which sandboxed and
remote hosts cannot read and which ignores the theme and HiDPI. Here the icon is a theme
*name* (trayd.icons.NAMES) with `IconThemePath` pointing at trayd's hicolor theme, the
title says the state in words, and the menu is a Gtk.Menu that libayatana exports over
com.canonical.dbusmenu (and shows itself in its XEmbed fallback). Nothing is written to
disk.

Threads: build and change everything on the GTK thread; `update()` and `quit()` may be
called from any thread (they queue onto the loop with `GLib.idle_add`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from trayd.icons import NAMES
from trayd.ui.tray_menu import Action, Entry

log = logging.getLogger(__name__)


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


class Indicator:
    """One AppIndicator with a menu built from `tray_menu.Entry` trees."""

    backend = "appindicator"

    def __init__(self, on_action: Callable[[Action], None], theme_path: str = "") -> None:
        import gi

        gi.require_version("Gtk", "3.0")
        from gi.repository import Gtk

        if not Gtk.init_check()[0]:
            raise RuntimeError("GTK could not open the display")
        self._ai = load_appindicator()
        self._on_action = on_action
        self._theme_path = theme_path
        self._indicator: Any = None
        self._loop: Any = None
        self._tooltip = ""
        self._menu: Any = None  # keep the Gtk.Menu alive

    # -- GTK thread ---------------------------------------------------------------------
    def show(self, icon_state: str, title: str, entries: tuple[Entry, ...]) -> None:
        """Create the indicator (first call) or change it: icon, title, menu."""
        ai = self._ai
        name = NAMES[icon_state]
        if self._indicator is None:
            _quiet_deprecation()
            self._indicator = ai.Indicator.new("trayd", name,
                                               ai.IndicatorCategory.APPLICATION_STATUS)
            if self._theme_path:
                self._indicator.set_icon_theme_path(self._theme_path)
            self._indicator.set_status(ai.IndicatorStatus.ACTIVE)
        self._indicator.set_icon_full(name, title)
        self._indicator.set_title(title)
        self._menu = self._gtk_menu(entries)
        self._indicator.set_menu(self._menu)
        self._tooltip = title
        self._set_xembed_tooltip(0)

    def _gtk_menu(self, entries: tuple[Entry, ...]) -> Any:
        from gi.repository import Gtk

        menu = Gtk.Menu.new()
        for e in entries:
            menu.append(self._gtk_item(e))
        menu.show_all()
        return menu

    def _gtk_item(self, e: Entry) -> Any:
        from gi.repository import Gtk

        if e.separator:
            return Gtk.SeparatorMenuItem()
        if e.checked is not None:
            item = Gtk.CheckMenuItem.new_with_label(e.text)
            item.set_active(e.checked)  # before connecting: set_active emits "activate"
        else:
            item = Gtk.MenuItem.new_with_label(e.text)
        if e.submenu:
            item.set_submenu(self._gtk_menu(e.submenu))
        elif e.action is not None:
            action = e.action
            item.connect("activate", lambda _w: self._on_action(action))
        item.set_sensitive(e.enabled)
        return item

    def _set_xembed_tooltip(self, attempt: int) -> bool:
        """Tooltip for the XEmbed fallback icon.

        SNI hosts show the title as the tooltip; the XEmbed icon that AppIndicator uses
        under a plain system tray (trayer, xfce4-panel, …) shows nothing on hover. Its
        embedded window is a GtkTrayIcon plug of this process, so set the tooltip there.
        AppIndicator creates it asynchronously (after looking for a watcher): retry for
        a few seconds until it exists.
        """
        from gi.repository import GLib, Gtk

        found = False
        for window in Gtk.Window.list_toplevels():
            if type(window).__name__ == "GtkTrayIcon":
                window.set_tooltip_text(self._tooltip)
                found = True
        if not found and attempt < 40 and self._loop is not None:
            GLib.timeout_add(250, self._set_xembed_tooltip, attempt + 1)
        return False

    def run(self, on_started: Callable[[], None]) -> None:
        """Run the GLib main loop on this (the main) thread until `quit()`."""
        from gi.repository import GLib

        self._loop = GLib.MainLoop.new(None, False)
        GLib.idle_add(lambda: (on_started(), False)[1])
        try:
            self._loop.run()
        finally:
            self._loop = None
            if self._indicator is not None:
                self._indicator.set_status(self._ai.IndicatorStatus.PASSIVE)

    # -- any thread ---------------------------------------------------------------------
    def update(self, icon_state: str, title: str, entries: tuple[Entry, ...]) -> None:
        from gi.repository import GLib

        GLib.idle_add(lambda: (self.show(icon_state, title, entries), False)[1])

    def quit(self) -> None:
        """Stop the loop (queued, so a quit before `run()` starts still ends it)."""
        from gi.repository import GLib

        def stop() -> bool:
            if self._loop is not None:
                self._loop.quit()
            return False

        GLib.idle_add(stop)


class StatusIcon(Indicator):
    """Fallback where no AppIndicator library is installed: a Gtk.StatusIcon (XEmbed only).

    Same interface and menu; the icon comes from the same theme by name, the tooltip is
    the title. Chosen automatically, or with TRAYD_TRAY_BACKEND=gtk (tests)."""

    backend = "gtk"

    def __init__(self, on_action: Callable[[Action], None], theme_path: str = "") -> None:
        import gi

        gi.require_version("Gtk", "3.0")
        from gi.repository import Gtk

        if not Gtk.init_check()[0]:
            raise RuntimeError("GTK could not open the display")
        self._on_action = on_action
        self._theme_path = theme_path
        self._icon: Any = None
        self._loop: Any = None
        self._menu: Any = None
        if theme_path:
            Gtk.IconTheme.get_default().append_search_path(theme_path)

    def show(self, icon_state: str, title: str, entries: tuple[Entry, ...]) -> None:
        from gi.repository import Gtk

        if self._icon is None:
            self._icon = Gtk.StatusIcon.new_from_icon_name(NAMES[icon_state])
            self._icon.set_name("trayd")
            self._icon.connect("popup-menu", self._popup)
            self._icon.connect("activate", lambda icon: self._popup(icon, 1, 0))
        self._icon.set_from_icon_name(NAMES[icon_state])
        self._icon.set_title(title)
        self._icon.set_tooltip_text(title)
        self._menu = self._gtk_menu(entries)
        self._icon.set_visible(True)

    def _popup(self, icon: Any, button: int, time: int) -> None:
        from gi.repository import Gtk

        if self._menu is not None:
            self._menu.popup(None, None, Gtk.StatusIcon.position_menu, icon, button, time)

    def run(self, on_started: Callable[[], None]) -> None:
        from gi.repository import GLib

        self._loop = GLib.MainLoop.new(None, False)
        GLib.idle_add(lambda: (on_started(), False)[1])
        try:
            self._loop.run()
        finally:
            self._loop = None
            if self._icon is not None:
                self._icon.set_visible(False)


def create(on_action: Callable[[Action], None], theme_path: str = "") -> Indicator:
    """AppIndicator where its library is installed, else the Gtk.StatusIcon fallback."""
    import os

    if os.environ.get("TRAYD_TRAY_BACKEND") != "gtk":
        try:
            return Indicator(on_action, theme_path)
        except ImportError as exc:
            log.warning("tray: %s; falling back to a plain XEmbed icon", exc)
    return StatusIcon(on_action, theme_path)

