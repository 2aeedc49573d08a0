"""The on-screen keyboard of the PIN dialogs (manual §4.2 ※, §4.5 ※).

Why it exists: the vendor's tool offers it against key loggers, and the manual says that
while it is in use the physical keyboard is not. The layout is the manual's (its number
row is deliberately out of order): each two-character key shows the shifted character
above the plain one, e.g. ``%`` over ``5``. The manual prints ``¥`` on the backslash key
(a Japanese keyboard's label); the key types a backslash, as a JIS keyboard does.

`SoftKeyboard` types into whichever registered entry last had focus; `block_physical`
makes entries ignore physical key presses (and paste) while the keyboard is on.
"""
from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from trayd.i18n import _
from trayd.ui.tk_hook import hook_register

# Rows as the manual prints them. A tuple is (shifted, plain); a str is a special key.
ROWS: list[list[tuple[str, str] | str]] = [
    [("~", "`"), ("%", "5"), ("&", "7"), ("!", "1"), ("*", "8"), ("@", "2"), ("$", "4"),
     (")", "0"), ("^", "6"), ("(", "9"), ("#", "3"), ("_", "-"), ("+", "="), "Bspc"],
    [("Q", "q"), ("W", "w"), ("E", "e"), ("R", "r"), ("T", "t"), ("Y", "y"), ("U", "u"),
     ("I", "i"), ("O", "o"), ("P", "p"), ("{", "["), ("}", "]"), ("|", "\\"), "Del"],
    ["Caps", ("A", "a"), ("S", "s"), ("D", "d"), ("F", "f"), ("G", "g"), ("H", "h"),
     ("J", "j"), ("K", "k"), ("L", "l"), (":", ";"), ('"', "'"), ("<", ","), "Home", "End"],
    ["Shift", ("Z", "z"), ("X", "x"), ("C", "c"), ("V", "v"), ("B", "b"), ("N", "n"),
     ("M", "m"), (">", "."), ("?", "/"), "Space"],
]
SPECIAL_LABELS = {"Bspc": "<-Bspc", "Del": "Del", "Caps": "Caps", "Home": "Home",
                  "End": "End", "Shift": "Shift", "Space": "Space"}
# Keys that pass through while the soft keyboard is on: navigation, not PIN characters.
PASS_KEYS = {"Tab", "ISO_Left_Tab", "Return", "KP_Enter", "Escape"}


def key_name(key: tuple[str, str] | str) -> str:
    """Stable test-hook name of a key: its plain character, or the special key's name."""
    if isinstance(key, str):
        return key.lower()
    plain = key[1]
    return {"\\": "backslash", " ": "space"}.get(plain, plain)


def display_label(key: tuple[str, str] | str) -> str:
    if isinstance(key, str):
        return SPECIAL_LABELS[key]
    shifted, plain = key
    if shifted.isalpha():
        return shifted
    return f"{shifted}\n{'¥' if plain == chr(92) else plain}"


def all_characters() -> set[str]:
    chars = {" "}
    for row in ROWS:
        for key in row:
            if isinstance(key, tuple):
                chars.update(key)
    return chars


class SoftKeyboard(ttk.Frame):
    """A grid of buttons that types into the active target entry."""

    def __init__(self, master: tk.Misc, hook_prefix: str = "kb") -> None:
        super().__init__(master, padding=4, relief="groove", borderwidth=1)
        self.targets: list[tk.Entry | ttk.Entry] = []
        self.active: tk.Entry | ttk.Entry | None = None
        self.shift = False
        self.caps = False
        self.on_change: Callable[[], None] | None = None
        self._buttons: dict[str, ttk.Button] = {}
        for r, row in enumerate(ROWS):
            frame = ttk.Frame(self)
            frame.grid(row=r, column=0, sticky="w", pady=1)
            for key in row:
                name = key_name(key)
                width = 7 if isinstance(key, str) else 3
                btn = ttk.Button(frame, text=display_label(key), width=width,
                                 style="Key.TButton", takefocus=False,
                                 command=lambda k=key: self.press(k))
                btn.pack(side="left", padx=1, fill="y")
                self._buttons[name] = btn
                hook_register(f"{hook_prefix}.key.{name}", btn)
        hook_register(f"{hook_prefix}.frame", self)

    # targets ---------------------------------------------------------------------------
    def attach(self, entry: tk.Entry | ttk.Entry) -> None:
        """Let the keyboard type into `entry` (the last one focused or clicked wins)."""
        self.targets.append(entry)
        if self.active is None:
            self.active = entry
        entry.bind("<FocusIn>", lambda _e, en=entry: self._activate(en), add="+")
        entry.bind("<Button-1>", lambda _e, en=entry: self._activate(en), add="+")

    def _activate(self, entry: tk.Entry | ttk.Entry) -> None:
        self.active = entry

    # typing ------------------------------------------------------------------------------
    def press(self, key: tuple[str, str] | str) -> None:
        entry = self.active
        if entry is None:
            return
        if isinstance(key, tuple):
            shifted, plain = key
            if plain.isalpha():
                upper = self.shift != self.caps
                ch = shifted if upper else plain
            else:
                ch = shifted if self.shift else plain
            self._insert(entry, ch)
            if self.shift:
                self._set_shift(False)
        elif key == "Space":
            self._insert(entry, " ")
        elif key == "Bspc":
            pos = entry.index("insert")
            if entry.selection_present():
                entry.delete("sel.first", "sel.last")
            elif pos > 0:
                entry.delete(pos - 1)
        elif key == "Del":
            if entry.selection_present():
                entry.delete("sel.first", "sel.last")
            else:
                entry.delete("insert")
        elif key == "Home":
            entry.icursor(0)
        elif key == "End":
            entry.icursor("end")
        elif key == "Shift":
            self._set_shift(not self.shift)
        elif key == "Caps":
            self.caps = not self.caps
            self._relabel()
        entry.focus_set()
        if self.on_change:
            self.on_change()

    def _insert(self, entry: tk.Entry | ttk.Entry, ch: str) -> None:
        if entry.selection_present():
            entry.delete("sel.first", "sel.last")
        entry.insert("insert", ch)

    def _set_shift(self, on: bool) -> None:
        self.shift = on
        self._relabel()

    def _relabel(self) -> None:
        for name, state in (("shift", self.shift), ("caps", self.caps)):
            btn = self._buttons.get(name)
            if btn is not None:
                # Letters keep their upper-case labels, like a physical keyboard and the
                # manual's picture; the latched Shift / Caps keys show as selected (highlighted).
                btn.state(["selected"] if state else ["!selected"])


def block_physical(entry: tk.Entry | ttk.Entry, enabled: Callable[[], bool]) -> None:
    """While `enabled()` is true, `entry` ignores physical key presses, paste and drops."""

    def on_key(event: tk.Event) -> str | None:
        if enabled() and event.keysym not in PASS_KEYS:
            return "break"
        return None

    def on_paste(_event: tk.Event) -> str | None:
        return "break" if enabled() else None

    entry.bind("<KeyPress>", on_key, add="+")
    for seq in ("<<Paste>>", "<<PasteSelection>>", "<Button-2>"):
        entry.bind(seq, on_paste, add="+")


def soft_keyboard_hint() -> str:
    return _("While the soft keyboard is on, the physical keyboard cannot be used.")
