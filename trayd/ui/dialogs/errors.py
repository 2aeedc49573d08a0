"""Error, warning and lock messages of the PIN dialogs (manual §4.2 ※).

Why separate from `trayd.messages`: the dialogs word a wrong PIN the way the manual does
(「PIN 番号を確認後、リトライ…」) and add what the CLI cannot show in one line: the tries
left when the token says, else trayd's own count of consecutive failures, and the
warning before the try that would lock the token.
"""
from __future__ import annotations

import tkinter as tk

from trayd import errors as E
from trayd.i18n import _
from trayd.messages import describe
from trayd.ui.dialogs.base import ask_yes_no, message


def wrong_pin_text(err: E.WrongPin) -> str:
    text = _("The PIN is incorrect.\nPlease check your PIN number and try again.")
    if err.tries_left is not None:
        text += "\n" + _("Tries left: {n}").format(n=err.tries_left)
    elif err.failures_seen:
        text += "\n" + _("Wrong PINs in a row: {seen}").format(seen=err.failures_seen)
        if err.max_tries:
            text += "\n" + _("(the token locks after {max} in a row)").format(max=err.max_tries)
    return text


def is_last_try(err: E.WrongPin) -> bool:
    """True when the next wrong PIN locks the token (as far as anyone can tell)."""
    if err.tries_left is not None:
        return err.tries_left <= 1
    return bool(err.max_tries and err.failures_seen >= err.max_tries - 1)


def show_wrong_pin(parent: tk.Misc, err: E.WrongPin) -> None:
    message(parent, wrong_pin_text(err), kind="error", name="error")


def locked_text() -> str:
    return _("The token is locked because a wrong PIN was entered too many times in a row.\n"
             "A locked USB token can no longer be used.\n"
             "Please contact the certificate issuer.")


def show_locked(parent: tk.Misc) -> None:
    message(parent, locked_text(), kind="error", name="error")


def confirm_last_try(parent: tk.Misc) -> bool:
    """The warning before the last try; True only on an explicit 「はい」."""
    return ask_yes_no(
        parent,
        _("If this PIN is wrong too, the token will be locked and can no longer be used.\n"
          "Do you want to continue?"),
        kind="warning", default_yes=False, name="lastTry",
    )


def show_error(parent: tk.Misc, err: BaseException) -> None:
    """Any failure in words (typed errors via `trayd.messages.describe`)."""
    if isinstance(err, E.WrongPin):
        show_wrong_pin(parent, err)
    elif isinstance(err, E.PinLocked):
        show_locked(parent)
    else:
        message(parent, describe(err), kind="error", name="error")
