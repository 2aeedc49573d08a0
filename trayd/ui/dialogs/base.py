"""A modal dialog base and the message box every window uses.

Why our own message box instead of `tkinter.messagebox`: Tk's box has no Japanese
button labels, uses Tk's default (CJK-less) font on some setups and cannot be found by
the GUI tests' hook. This one takes the manual's wording (「はい」/「いいえ」, 「OK」) and
registers its buttons as ``msg.<key>``.
"""
from __future__ import annotations

import tkinter as tk
from collections.abc import Sequence
from tkinter import ttk

from trayd.i18n import _
from trayd.ui.soft_keyboard import SoftKeyboard, block_physical, soft_keyboard_hint
from trayd.ui.tk_hook import hook_info, hook_register
from trayd.ui.tk_root import app_title, center
from trayd.ui.tk_worker import set_busy

NO_LINE_START = "。、．，）」』】〕！？：；…ー々ゃゅょっャュョッ)]}!?:;,."
ICONS = {"info": "information", "warning": "warning", "error": "error",
         "question": "question"}


def wrap_text(text: str, widget: tk.Misc, max_px: int, font: str = "TkDefaultFont") -> str:
    """Break lines to fit `max_px`, character by character where needed.

    Why not Tk's wraplength: Tk breaks only at spaces, so Japanese text with one space
    (「この PIN も…」) breaks after 「この」 and a long path never breaks at all.
    """
    import tkinter.font as tkfont

    f = tkfont.nametofont(font, root=widget)
    out: list[str] = []
    for line in text.split("\n"):
        broken = False
        while line and f.measure(line) > max_px:
            cut = len(line)
            while cut > 1 and f.measure(line[:cut]) > max_px:
                cut -= 1
            # Kinsoku: closing punctuation never starts a line; it stays on this one.
            while cut < len(line) and line[cut] in NO_LINE_START:
                cut += 1
            space = line.rfind(" ", 0, cut)
            # Prefer a space in a Latin run; otherwise break between any two characters.
            if space > cut * 2 // 3 and not any(ord(c) > 0x2E7F for c in line[space:cut]):
                cut = space + 1
            out.append(line[:cut].rstrip())
            line = line[cut:]
            broken = True
        if line or not broken:  # kinsoku may have taken the line's last character
            out.append(line)
    return "\n".join(out)


class Dialog(tk.Toplevel):
    """A modal Toplevel: transient to its parent, grabs input, Escape cancels."""

    def __init__(self, parent: tk.Misc, title: str, name: str) -> None:
        super().__init__(parent)
        self.withdraw()
        # Plain Tk's grey differs from the ttk theme's; match it so packed areas blend.
        self.configure(background=ttk.Style(self).lookup("TFrame", "background"))
        self.title(title)
        self.name = name
        self.result: object = None
        self.resizable(False, False)
        try:
            if parent.winfo_viewable():
                self.transient(parent.winfo_toplevel())
        except tk.TclError:
            pass
        self.protocol("WM_DELETE_WINDOW", self.cancel)
        self.bind("<Escape>", lambda _e: self.cancel())
        hook_register(f"{name}.window", self)

    def show(self, focus: tk.Misc | None = None) -> object:
        """Map, centre, grab, and block (running the event loop) until closed."""
        self._outer_grab = self.grab_current()
        parent = self.master if isinstance(self.master, tk.Misc) else None
        center(self, parent if parent is not None and parent.winfo_viewable() else None)
        self.deiconify()
        self.lift()
        try:
            self.wait_visibility()
            self.grab_set()
        except tk.TclError:
            pass
        (focus or self).focus_force()
        hook_info("dialog", self.name)
        self.wait_window(self)
        # A nested dialog took the grab; give it back to the window below (if modal).
        if self._outer_grab is not None:
            try:
                if self._outer_grab.winfo_exists():
                    self._outer_grab.grab_set()
                    hook_info("dialog", getattr(self._outer_grab, "name", None))
            except tk.TclError:
                pass
        return self.result

    def busy(self, on: bool) -> None:
        set_busy(self, on)

    def close(self, result: object = None) -> None:
        self.result = result
        try:
            self.grab_release()
        except tk.TclError:
            pass
        hook_info("dialog", None)
        self.destroy()

    def cancel(self) -> None:
        self.close(None)


class PinEntryDialog(Dialog):
    """A dialog with masked PIN fields, OK/キャンセル and the manual's soft keyboard.

    Why shared: the login and the change-PIN dialogs (manual §4.2, §4.5) must behave the
    same way: while 「ソフトキーボード」 is on, physical keys are ignored in every PIN field.
    Subclasses build their fields, then call `add_buttons()` and `add_soft_keyboard()`.
    """

    def __init__(self, parent: tk.Misc, title: str, name: str) -> None:
        super().__init__(parent, title, name)
        self.soft_on = tk.BooleanVar(value=False)
        self.pin_entries: list[ttk.Entry] = []

    def submit(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def add_buttons(self) -> None:
        buttons = ttk.Frame(self, padding=(16, 4, 16, 12))
        buttons.pack(fill="x")
        self.cancel_btn = ttk.Button(buttons, text=_("Cancel"), width=10, command=self.cancel)
        self.cancel_btn.pack(side="right", padx=(6, 0))
        self.ok_btn = ttk.Button(buttons, text="OK", width=10, default="active",
                                 command=self.submit)
        self.ok_btn.pack(side="right")
        hook_register(f"{self.name}.ok", self.ok_btn)
        hook_register(f"{self.name}.cancel", self.cancel_btn)

    def add_soft_keyboard(self, entries: list[ttk.Entry]) -> None:
        self.pin_entries = entries
        self.keyboard = SoftKeyboard(self)
        self.kb_hint = ttk.Label(self, text=soft_keyboard_hint(), style="Status.TLabel",
                                 padding=(16, 0, 16, 4))
        for e in entries:
            self.keyboard.attach(e)
            block_physical(e, self.soft_on.get)
            e.bind("<Return>", lambda _e: self.submit())

    def _toggle_soft(self) -> None:
        if self.soft_on.get():
            self.kb_hint.pack(fill="x")
            self.keyboard.pack(padx=12, pady=(0, 12))
            # The dialog grew: keep it where it can be seen (over its parent).
            center(self, self.master if self.master.winfo_viewable() else None)
        else:
            self.keyboard.pack_forget()
            self.kb_hint.pack_forget()
        (self.keyboard.active or self.pin_entries[0]).focus_set()
        hook_info("softkb", self.soft_on.get())


def _icon(widget: tk.Misc, kind: str) -> str | None:
    name = f"::tk::icons::{ICONS.get(kind, 'information')}"
    try:
        if name not in widget.tk.splitlist(widget.tk.call("image", "names")):
            widget.tk.eval("source [file join $tk_library icons.tcl]")
        return name
    except tk.TclError:
        return None


class MessageDialog(Dialog):
    """Icon, message, and a row of buttons; `result` is the key of the button pressed."""

    def __init__(self, parent: tk.Misc, text: str, title: str | None = None,
                 kind: str = "info", buttons: Sequence[tuple[str, str]] | None = None,
                 default: str | None = None, cancel_key: str | None = None,
                 name: str = "msg") -> None:
        super().__init__(parent, title or app_title(), name)
        buttons = list(buttons or [("ok", "OK")])
        self.cancel_key = cancel_key if cancel_key is not None else buttons[-1][0]
        body = ttk.Frame(self, padding=(18, 16, 18, 10))
        body.pack(fill="both", expand=True)
        icon = _icon(self, kind)
        if icon:
            ttk.Label(body, image=icon).grid(row=0, column=0, sticky="n", padx=(0, 14))
        label = ttk.Label(body, text=wrap_text(text, self, 520), justify="left")
        label.grid(row=0, column=1, sticky="w")
        hook_register(f"{name}.text", label)
        row = ttk.Frame(self, padding=(12, 4, 12, 12))
        row.pack(fill="x")
        first = None
        for key, text_ in reversed(buttons):
            b = ttk.Button(row, text=text_, width=10, command=lambda k=key: self.close(k))
            b.pack(side="right", padx=4)
            hook_register(f"{name}.{key}", b)
            if key == (default or buttons[0][0]):
                first = b
                b.configure(default="active")
        self.bind("<Return>", lambda _e: self.close(default or buttons[0][0]))
        self.focus_target = first
        self.kind = kind

    def cancel(self) -> None:
        self.close(self.cancel_key)


def message(parent: tk.Misc, text: str, title: str | None = None, kind: str = "info",
            name: str = "msg") -> None:
    """An OK box (e.g. 「エクスポート成功」)."""
    d = MessageDialog(parent, text, title, kind, name=name)
    d.show(d.focus_target)


def ask_yes_no(parent: tk.Misc, text: str, title: str | None = None, kind: str = "question",
               default_yes: bool = True, name: str = "msg") -> bool:
    """「はい」/「いいえ」; closing the window counts as いいえ."""
    d = MessageDialog(parent, text, title, kind,
                      buttons=[("yes", _("Yes")), ("no", _("No"))],
                      default="yes" if default_yes else "no", cancel_key="no", name=name)
    return d.show(d.focus_target) == "yes"
