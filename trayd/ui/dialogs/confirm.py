"""Yes/no questions: the exit confirmation of §4.6③ and generic confirmations."""
from __future__ import annotations

import tkinter as tk

from trayd.i18n import _
from trayd.ui.dialogs.base import ask_yes_no


def confirm_exit(parent: tk.Misc) -> bool:
    """「終了してもよろしいですか？」 — True for はい."""
    return ask_yes_no(parent, _("Are you sure you want to exit?"), kind="question",
                      default_yes=False, name="confirm")


def confirm(parent: tk.Misc, text: str, title: str | None = None,
            kind: str = "question", default_yes: bool = False) -> bool:
    return ask_yes_no(parent, text, title, kind=kind, default_yes=default_yes, name="confirm")
