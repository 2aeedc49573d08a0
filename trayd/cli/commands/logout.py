"""`trayd logout [--token SERIAL]` (§4.6): end the agent's login on a token."""
from __future__ import annotations

import argparse

from trayd.cli.backend_choice import open_backend, select_token
from trayd.config import Config
from trayd.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logout", help=_("log out of a token"))
    p.add_argument("--token", metavar="SERIAL", help=_("serial number of the token"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    with open_backend(cfg) as backend:
        token = select_token(backend, args.token)
        backend.logout(token.serial)
    print(_("Logged out."))
    return 0
