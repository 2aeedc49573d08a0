"""`trayd manage`: open the management window (「ePass2003 管理ツール」, manual §4).

Why in this process: the window is a Tk program that goes through the running agent's
socket when there is one, and otherwise opens the PKCS#11 module itself; either way it
needs nothing from the CLI but the language. tkinter is imported only after the display
check, so `trayd --help` works on a server without X.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from trayd.config import Config
from trayd.errors import UsageError
from trayd.i18n import _
from trayd.platform.display import has_display


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("manage", help=_("open the management tool window"))
    p.add_argument("--export-dir", type=Path, default=None,
                   help=_("folder the export dialog starts in"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    if not has_display():
        raise UsageError(detail=_("The management tool needs a graphical session "
                                  "(DISPLAY is not set)."))
    from trayd.ui.manage_window import run as run_window

    return run_window(export_dir=args.export_dir)
