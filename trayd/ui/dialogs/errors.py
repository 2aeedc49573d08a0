"""Error, warning and lock messages of the PIN dialogs (manual §4.2 ※).

The wrong-PIN sentence is `trayd.messages.wrong_pin_text` (the CLI says the same) and the
last-try rule is `trayd.core.pin_counter.is_last_try` (the token service asks at the same
try); here they become message boxes, with the warning before the try that could lock
the token; the lock notice is `trayd.messages.pin_locked_text` (the CLI's too).
"""
from __future__ import annotations

import tkinter as tk

from trayd import errors as E
from trayd.core import pin_counter
from trayd.core.models import TokenInfo
from trayd.messages import describe, last_try_question, pin_locked_text, wrong_pin_text
from trayd.ui.dialogs.base import ask_yes_no, message


def is_last_try(err: E.WrongPin) -> bool:
    """After this wrong PIN, is the next try the one that could lock the token?"""
    return pin_counter.is_last_try(tries_left=err.tries_left, failures=err.failures_seen,
                                   max_tries=err.max_tries)


def token_on_last_try(token: TokenInfo | None) -> bool:
    """Before the first PIN: does the token itself say this is its last try?"""
    return token is not None and pin_counter.is_last_try(tries_left=token.tries_left)


def show_wrong_pin(parent: tk.Misc, err: E.WrongPin) -> None:
    message(parent, wrong_pin_text(err), kind="error", name="error")


def show_locked(parent: tk.Misc) -> None:
    message(parent, pin_locked_text(), kind="error", name="error")


def confirm_last_try(parent: tk.Misc) -> bool:
    """The warning before the last try; True only on an explicit 「はい」."""
    return ask_yes_no(parent, last_try_question(), kind="warning", default_yes=False,
                      name="lastTry")


def show_error(parent: tk.Misc, err: BaseException) -> None:
    """Any failure in words (typed errors via `trayd.messages.describe`)."""
    if isinstance(err, E.WrongPin):
        show_wrong_pin(parent, err)
    elif isinstance(err, E.PinLocked):
        show_locked(parent)
    else:
        message(parent, describe(err), kind="error", name="error")
