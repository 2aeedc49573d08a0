"""`python -m trayd.ui <command> …`: one window or dialog per process.

Why a registry: the tray, the applications menu and `trayd manage` start windows by
command name; each command lives in a module (or an object in one) that exposes
`add_arguments(parser)` and `run(args) -> int`. To add a command, add one line to
`COMMANDS` ("name": "module" or "module:object").

Exit codes follow the CLI contract: 0 done (or はい), 1 error, 3 no such token or
certificate, 5 PIN locked, 6 cancelled (or いいえ).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

COMMANDS: dict[str, str] = {
    "manage": "trayd.ui.standalone:Manage",
    "login": "trayd.ui.standalone:Login",
    "logout": "trayd.ui.standalone:Logout",
    "token-info": "trayd.ui.standalone:TokenInformation",
    "cert": "trayd.ui.standalone:Certificate",
    "export": "trayd.ui.standalone:Export",
    "change-pin": "trayd.ui.standalone:ChangePin",
    "confirm-exit": "trayd.ui.standalone:ConfirmExit",
    "message": "trayd.ui.standalone:Message",
    "root-warning": "trayd.ui.dialogs.root_warning",
    "browser-offer": "trayd.ui.dialogs.root_warning:BrowserOffer",
}


def load(target: str) -> Any:
    module_name, _sep, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr) if attr else module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trayd.ui")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--language", choices=("auto", "ja", "en"), default=None,
                        help="set by the launcher: the starter's language")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, target in COMMANDS.items():
        p = sub.add_parser(name)
        p.set_defaults(target=target)
        try:
            obj = load(target)
        except ImportError:
            continue  # a command whose module is not there yet: listed, fails when run
        if hasattr(obj, "add_arguments"):
            obj.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from trayd import config, i18n

    # The starter's language (`--language`, see trayd.platform.launcher) beats the
    # environment, which beats the config; set before any window module is imported.
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--language", default=None)
    early_args, _rest = early.parse_known_args(argv)
    i18n.set_language(early_args.language or os.environ.get("TRAYD_LANGUAGE")
                      or config.load().language)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from trayd.platform.display import has_display

    if not has_display():
        print("trayd.ui: no display (DISPLAY is not set)", file=sys.stderr)
        return 1
    return int(load(args.target).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
