"""「ユーザ PIN 変更」 (§4.5): 現在のPIN, 新しいPIN, 再入力, 強度チェック, ソフトキーボード.

Why the checks happen here first: `trayd.core.pin_policy` refuses a wrong length or a
mismatch before anything reaches the token, so a typo never costs one of the token's
tries. A weak new PIN (強度 低) needs an explicit 「はい」. PINs stay in the entry widgets
and the one closure that hands them to the backend.
"""
from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from trayd import errors as E
from trayd.core import pin_policy
from trayd.core.models import TokenInfo
from trayd.i18n import _
from trayd.messages import describe
from trayd.ui.dialogs.base import PinEntryDialog, ask_yes_no, message
from trayd.ui.dialogs.errors import (confirm_last_try, is_last_try, show_error, show_locked,
                                     show_wrong_pin, token_on_last_try)
from trayd.ui.dialogs.pin_dialog import MASK
from trayd.ui.tk_hook import hook_info, hook_register
from trayd.ui.tk_worker import UiContext, set_enabled

METER_COLOURS = {1: "#d9534f", 2: "#f0ad4e", 3: "#5cb85c"}


class ChangePinDialog(PinEntryDialog):
    """`result` is True after a successful change, "locked", or None."""

    def __init__(self, ctx: UiContext, parent: tk.Misc, serial: str,
                 token: TokenInfo | None = None) -> None:
        model = "ePass2003"  # OpenSC reports "PKCS#15" as the model; the manual says ePass2003
        super().__init__(parent, _("EnterSafe PKI Management Tool - {model}").format(
            model=model), "chpin")
        self.ctx = ctx
        self.serial = serial
        self.token = token
        self.warn_last_try = token_on_last_try(token)
        self.check_on = tk.BooleanVar(value=False)
        self._working = False

        body = ttk.Frame(self, padding=(16, 14, 16, 6))
        body.pack(fill="both", expand=True)
        ttk.Label(body, text=_("Change the user PIN of {model}").format(model=model),
                  style="Heading.TLabel").grid(row=0, column=0, columnspan=3, sticky="w",
                                               pady=(0, 10))
        self.current = self._entry(body, 1, _("Current PIN:"), "chpin.current")
        self.new = self._entry(body, 2, _("New PIN:"), "chpin.new")
        self.strength_check = ttk.Checkbutton(body, text=_("Strength check"),
                                              variable=self.check_on,
                                              command=self._toggle_meter)
        self.strength_check.grid(row=2, column=2, sticky="w", padx=(10, 0))
        hook_register("chpin.strength", self.strength_check)
        self.meter_row = ttk.Frame(body)
        self.meter_row.grid(row=3, column=1, columnspan=2, sticky="we", pady=(0, 4))
        ttk.Label(self.meter_row, text=_("low")).pack(side="left")
        self.meter = tk.Canvas(self.meter_row, width=150, height=12, highlightthickness=1,
                               highlightbackground="#999999", background="#ffffff")
        self.meter.pack(side="left", padx=6)
        ttk.Label(self.meter_row, text=_("high")).pack(side="left")
        self.meter_text = ttk.Label(self.meter_row, text="", width=12)
        self.meter_text.pack(side="left", padx=(10, 0))
        hook_register("chpin.meter", self.meter_text)
        self.meter_row.grid_remove()
        self.repeat = self._entry(body, 4, _("Re-enter:"), "chpin.repeat")
        self.soft_check = ttk.Checkbutton(body, text=_("Soft keyboard"),
                                          variable=self.soft_on, command=self._toggle_soft)
        self.soft_check.grid(row=4, column=2, sticky="w", padx=(10, 0))
        hook_register("chpin.softkb", self.soft_check)
        self.status = ttk.Label(body, text="", style="Status.TLabel")
        self.status.grid(row=5, column=0, columnspan=3, sticky="w", pady=(6, 0))
        body.columnconfigure(1, weight=1)

        self.add_buttons()

        self.add_soft_keyboard([self.current, self.new, self.repeat])
        self.keyboard.on_change = self._update_meter
        self.new.bind("<KeyRelease>", lambda _e: self._update_meter(), add="+")
        self._update_meter()

    def _entry(self, parent: ttk.Frame, row: int, label: str, name: str) -> ttk.Entry:
        ttk.Label(parent, text=label).grid(row=row, column=0, sticky="w", pady=4)
        e = ttk.Entry(parent, show=MASK, width=26)
        e.grid(row=row, column=1, sticky="we", pady=4, padx=(8, 0))
        hook_register(name, e)
        return e

    # strength meter ------------------------------------------------------------------
    def _toggle_meter(self) -> None:
        if self.check_on.get():
            self.meter_row.grid()
        else:
            self.meter_row.grid_remove()
        self._update_meter()

    def _update_meter(self) -> None:
        new = self.new.get()
        level = pin_policy.strength(new, self.current.get() or None) if new else None
        self.meter.delete("all")
        if level is not None:
            width = int(self.meter.cget("width"))
            self.meter.create_rectangle(0, 0, width * int(level) // 3, 14,
                                        fill=METER_COLOURS[int(level)], width=0)
        self.meter_text.configure(
            text=_("Strength: {level}").format(level=level.label) if level is not None else "")
        hook_info("chpin.strength", int(level) if level is not None else 0)

    # change --------------------------------------------------------------------------
    def submit(self) -> None:
        if self._working:
            return
        old, new, again = self.current.get(), self.new.get(), self.repeat.get()
        lo = self.token.pin_min if self.token else None
        hi = self.token.pin_max if self.token else None
        try:
            level = pin_policy.check_new_pin(old, new, again, lo, hi)
        except E.PinPolicyError as err:
            message(self, describe(err), kind="warning", name="error")
            (self.repeat if err.reason == "mismatch" else self.new).focus_set()
            return
        confirm_weak = False
        if level == pin_policy.Strength.LOW:
            if not ask_yes_no(self, _("The new PIN is weak (strength: low).\n"
                                      "Do you want to use it anyway?"),
                              kind="warning", default_yes=False, name="weak"):
                self.new.focus_set()
                return
            confirm_weak = True
        confirm_last = False
        if self.warn_last_try:
            if not confirm_last_try(self):
                return
            confirm_last = True
        self._change(old, new, confirm_weak, confirm_last)

    def _change(self, old: str, new: str, confirm_weak: bool, confirm_last: bool) -> None:
        backend, serial = self.ctx.backend, self.serial
        self._set_working(True)

        def on_error(exc: BaseException) -> None:
            self._set_working(False)
            if isinstance(exc, E.ConfirmationRequired):
                if exc.reason == "weak_pin" and ask_yes_no(
                        self, _("The new PIN is weak (strength: low).\n"
                                "Do you want to use it anyway?"),
                        kind="warning", default_yes=False, name="weak"):
                    self._change(old, new, True, confirm_last)
                elif exc.reason == "last_try" and confirm_last_try(self):
                    self._change(old, new, confirm_weak, True)
                return
            if isinstance(exc, E.WrongPin):
                self.warn_last_try = is_last_try(exc)
                self.current.delete(0, "end")
                show_wrong_pin(self, exc)
                self.current.focus_set()
            elif isinstance(exc, E.PinLocked):
                self._clear()
                show_locked(self)
                self.close("locked")
            elif isinstance(exc, (E.TokenRemoved, E.NoSuchToken)):
                self._clear()
                show_error(self, exc)
                self.close(None)
            else:
                show_error(self, exc)

        def on_ok(_r: object) -> None:
            self._set_working(False)
            self._clear()
            message(self, _("User PIN changed successfully."), kind="info", name="changed")
            self.close(True)

        self.ctx.worker.submit(
            lambda: backend.change_pin(serial, old, new, confirm_weak=confirm_weak,
                                       confirm_last_try=confirm_last),
            on_ok, on_error)

    def _clear(self) -> None:
        for e in (self.current, self.new, self.repeat):
            e.delete(0, "end")

    def _set_working(self, on: bool) -> None:
        self._working = on
        self.busy(on)
        set_enabled([self.ok_btn, self.cancel_btn, self.current, self.new, self.repeat,
                     self.soft_check, self.strength_check], not on)
        self.status.configure(text=_("Changing the user PIN…") if on else "")

    def cancel(self) -> None:
        if self._working:
            return
        self._clear()
        self.close(None)


def ask_change_pin(ctx: UiContext, parent: tk.Misc, serial: str,
                   token: TokenInfo | None = None) -> object:
    d = ChangePinDialog(ctx, parent, serial, token)
    return d.show(d.current)
