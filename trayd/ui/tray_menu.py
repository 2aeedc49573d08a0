"""The tray's menu, tooltip and icon state as plain data, built from what the agent knows.

Why separate from `trayd.ui.tray`: pystray needs a display and a toolkit; this module
needs neither, so the menu's structure and wording (the manual's labels) are tested
without Xvfb, and the tray only translates `Entry` trees into pystray items. Actions are
data too (`Action`): the tray decides how to run them (a child dialog process, a config
toggle, the exit confirmation), never this module.
"""
from __future__ import annotations

from dataclasses import dataclass

from trayd.i18n import _
from trayd.token_rows import cert_title


@dataclass(frozen=True)
class CertView:
    id: str  # hex CKA_ID
    label: str
    certificate_id: str | None = None  # the ES…/FC… ID from the subject

    @property
    def title(self) -> str:
        """What the menu shows for a certificate (the management tree shows the same)."""
        return cert_title(self)


@dataclass(frozen=True)
class TokenView:
    serial: str
    label: str
    reader: str = ""
    logged_in: bool = False
    locked: bool = False
    certificates: tuple[CertView, ...] = ()


@dataclass(frozen=True)
class TrayState:
    tokens: tuple[TokenView, ...] = ()
    # Readers holding a card that the token service has not identified (yet): binding an
    # ePass2003 takes over a second, and unknown cards never get identified.
    pending_readers: tuple[str, ...] = ()
    service_down: bool = False
    service_denied: bool = False  # pcscd runs but refuses this session (polkit)
    notifications: bool = True
    root_install_available: bool = False


@dataclass(frozen=True)
class Action:
    """What a menu entry does. kind: "ui" (run `python -m trayd.ui *args`),
    "root_install", "notifications" (toggle), "quit" (confirm, then stop the agent)."""

    kind: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entry:
    text: str
    action: Action | None = None
    enabled: bool = True
    checked: bool | None = None  # None: not a check item
    submenu: tuple[Entry, ...] = ()
    separator: bool = False


SEPARATOR = Entry("", separator=True)


def icon_state(state: TrayState) -> str:
    """One of trayd.icons.STATES: error beats logged_in beats present beats none."""
    if state.service_down or any(t.locked for t in state.tokens):
        return "error"
    if any(t.logged_in for t in state.tokens):
        return "logged_in"
    if state.tokens or state.pending_readers:
        return "present"
    return "none"


def tooltip(state: TrayState) -> str:
    """The icon's tooltip: the product and the state in words."""
    head = _("USB token (ePass2003)")
    if state.service_down and state.service_denied:
        return f"{head}: " + _("the smart card service (pcscd) refused access (polkit)")
    if state.service_down:
        return f"{head}: " + _("the smart card service (pcscd) is not running")
    if not state.tokens:
        if state.pending_readers:
            return f"{head}: " + _("reading the token…")
        return f"{head}: " + _("no token")
    parts = []
    for t in state.tokens:
        if t.locked:
            parts.append(_("{label} (locked)").format(label=t.label))
        elif t.logged_in:
            parts.append(_("{label} (logged in)").format(label=t.label))
        else:
            parts.append(_("{label} (inserted)").format(label=t.label))
    return f"{head}: " + ", ".join(parts)


def token_title(token: TokenView) -> str:
    if token.locked:
        return _("{label} (locked)").format(label=token.label)
    if token.logged_in:
        return _("{label} (logged in)").format(label=token.label)
    return token.label or token.serial


def _token_menu(t: TokenView) -> Entry:
    tok = ("--token", t.serial)
    if t.certificates:
        cert_items = tuple(
            Entry(c.title, Action("ui", ("cert", *tok, "--id", c.id))) for c in t.certificates
        )
        if len(t.certificates) == 1:
            export = Entry(_("Export…"),
                           Action("ui", ("export", *tok, "--id", t.certificates[0].id)))
        else:
            export = Entry(_("Export…"), submenu=tuple(
                Entry(c.title, Action("ui", ("export", *tok, "--id", c.id)))
                for c in t.certificates))
    else:
        cert_items = (Entry(_("(no certificates)"), enabled=False),)
        export = Entry(_("Export…"), enabled=False)
    if t.logged_in:
        session = Entry(_("Log out"), Action("ui", ("logout", *tok)))
    else:
        session = Entry(_("Log in…"), Action("ui", ("login", *tok)), enabled=not t.locked)
    items = (
        # Token information needs a login, as in the management tool (manual §4.2③).
        Entry(_("Token information"), Action("ui", ("token-info", *tok)),
              enabled=t.logged_in),
        Entry(_("Certificate information"), submenu=cert_items),
        export,
        SEPARATOR,
        session,
        Entry(_("Change user PIN…"), Action("ui", ("change-pin", *tok)),
              enabled=not t.locked),
    )
    return Entry(token_title(t), submenu=items)


def build_menu(state: TrayState) -> tuple[Entry, ...]:
    """The whole tray menu, top to bottom."""
    head: list[Entry] = []
    if state.service_down and state.service_denied:
        head.append(Entry(_("The smart card service (pcscd) refused access (polkit)"),
                          enabled=False))
    elif state.service_down:
        head.append(Entry(_("The smart card service (pcscd) is not running"), enabled=False))
    for t in state.tokens:
        head.append(_token_menu(t))
    for reader in state.pending_readers:
        head.append(Entry(_("{reader}: reading the token…").format(reader=reader),
                          enabled=False))
    if not state.tokens and not state.pending_readers and not state.service_down:
        head.append(Entry(_("No token is inserted"), enabled=False))
    return (
        *head,
        SEPARATOR,
        Entry(_("Open the management tool"), Action("ui", ("manage",))),
        Entry(_("Install the root certificate…"), Action("root_install"),
              enabled=state.root_install_available),
        Entry(_("Notifications"), Action("notifications"), checked=state.notifications),
        SEPARATOR,
        Entry(_("Exit"), Action("quit")),
    )


def flatten(entries: tuple[Entry, ...], depth: int = 0) -> list[tuple[int, Entry]]:
    """(depth, entry) for every entry, depth-first (tests, debug logging)."""
    out: list[tuple[int, Entry]] = []
    for e in entries:
        out.append((depth, e))
        out.extend(flatten(e.submenu, depth + 1))
    return out

