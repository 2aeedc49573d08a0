"""The user PIN dialog of §4.2②: masked entry, 「ソフトキーボードを利用する」, OK/キャンセル.

Why it owns the login call: the dialog stays open on a wrong PIN (the manual: check the
PIN and retry), asks before the try that would lock the token, and closes on success or
lock. The PIN lives only in the entry widget and in the one closure that hands it to the
backend; it is never logged and never retried without the user pressing OK again.
"""
from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from trayd import errors as E
from trayd.core.models import TokenInfo
from trayd.i18n import _
from trayd.ui.dialogs.base import PinEntryDialog, message
from trayd.ui.dialogs.errors import (confirm_last_try, is_last_try, show_error,
                                     show_locked, show_wrong_pin, token_on_last_try)
from trayd.ui.tk_hook import hook_register
from trayd.ui.tk_worker import UiContext, set_enabled

MASK = "●"


class PinDialog(PinEntryDialog):
    """Log in to one token. `result`: the TokenInfo after login, or "locked", or None."""

    def __init__(self, ctx: UiContext, parent: tk.Misc, serial: str,
                 label: str | None = None, token: TokenInfo | None = None) -> None:
        super().__init__(parent, _("User PIN") + " - " + (label or serial), "pin")
        self.ctx = ctx
        self.serial = serial
        self.warn_last_try = token_on_last_try(token)

        body = ttk.Frame(self, padding=(16, 14, 16, 6))
        body.pack(fill="both", expand=True)
        ttk.Label(body, text=_("Enter the user PIN of the token."),
                  style="Heading.TLabel").grid(row=0, column=0, columnspan=2, sticky="w")
        ttk.Label(body, text=_("Token:")).grid(row=1, column=0, sticky="w", pady=(10, 2))
        self.token_label = ttk.Label(body, text=f"{label or ''} ({serial})" if label else serial)
        self.token_label.grid(row=1, column=1, sticky="w", pady=(10, 2))
        ttk.Label(body, text=_("User PIN:")).grid(row=2, column=0, sticky="w", pady=4)
        self.entry = ttk.Entry(body, show=MASK, width=28)
        self.entry.grid(row=2, column=1, sticky="we", pady=4, padx=(8, 0))
        hook_register("pin.entry", self.entry)
        self.soft_check = ttk.Checkbutton(body, text=_("Use the soft keyboard"),
                                          variable=self.soft_on, command=self._toggle_soft)
        self.soft_check.grid(row=3, column=0, columnspan=2, sticky="w", pady=(6, 0))
        hook_register("pin.softkb", self.soft_check)
        self.status = ttk.Label(body, text="", style="Status.TLabel")
        self.status.grid(row=4, column=0, columnspan=2, sticky="w", pady=(6, 0))
        hook_register("pin.status", self.status)
        body.columnconfigure(1, weight=1)

        self.add_buttons()

        self.add_soft_keyboard([self.entry])
        self._working = False

    # login -----------------------------------------------------------------------------
    def submit(self) -> None:
        if self._working:
            return
        pin = self.entry.get()
        if not pin:
            message(self, _("No PIN was entered."), kind="warning", name="error")
            self.entry.focus_set()
            return
        confirm = False
        if self.warn_last_try:
            if not confirm_last_try(self):
                self.entry.focus_set()
                return
            confirm = True
        self._login(pin, confirm)

    def _login(self, pin: str, confirm: bool) -> None:
        backend, serial = self.ctx.backend, self.serial
        self._set_working(True)

        def on_error(exc: BaseException) -> None:
            self._set_working(False)
            if isinstance(exc, E.ConfirmationRequired) and exc.reason == "last_try":
                # The backend knows this is the last try: ask, then send this same PIN once.
                if confirm_last_try(self):
                    self._login(pin, True)
                else:
                    self._clear()
                return
            self._clear()
            if isinstance(exc, E.WrongPin):
                self.warn_last_try = is_last_try(exc)
                show_wrong_pin(self, exc)
                self.entry.focus_set()
            elif isinstance(exc, E.PinLocked):
                show_locked(self)
                self.close("locked")
            elif isinstance(exc, (E.TokenRemoved, E.NoSuchToken)):
                show_error(self, exc)
                self.close(None)
            else:
                show_error(self, exc)
                self.entry.focus_set()

        def on_ok(info: TokenInfo) -> None:
            self._set_working(False)
            self._clear()
            self.close(info)

        self.ctx.worker.submit(lambda: backend.login(serial, pin, confirm_last_try=confirm),
                               on_ok, on_error)

    def _clear(self) -> None:
        self.entry.delete(0, "end")

    def _set_working(self, on: bool) -> None:
        self._working = on
        self.busy(on)
        set_enabled([self.ok_btn, self.cancel_btn, self.entry, self.soft_check], not on)
        self.status.configure(text=_("Logging in to the token…") if on else "")

    def cancel(self) -> None:
        if self._working:
            return  # the token is working; closing now would orphan the result
        self._clear()
        self.close(None)


def ask_login(ctx: UiContext, parent: tk.Misc, serial: str, label: str | None = None,
              token: TokenInfo | None = None) -> TokenInfo | str | None:
    d = PinDialog(ctx, parent, serial, label, token)
    return d.show(d.entry)  # type: ignore[return-value]
