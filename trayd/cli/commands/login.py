"""`trayd login [--token SERIAL] [--pin-stdin] [--yes]` (§4.2).

With the agent running the token stays logged in inside the agent until `trayd logout`
or removal; without an agent this only verifies the PIN (the process logs out at exit).
"""
from __future__ import annotations

import argparse

from trayd.cli import pin_input
from trayd.cli.backend_choice import is_local, open_backend, select_token
from trayd.cli.output import add_json_option, print_json, print_table
from trayd.config import Config
from trayd.core import pin_policy
from trayd.errors import Cancelled, ConfirmationRequired
from trayd.i18n import _
from trayd.messages import last_try_question
from trayd.token_rows import token_rows


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("login", help=_("log in to a token with the user PIN"))
    p.add_argument("--token", metavar="SERIAL", help=_("serial number of the token"))
    p.add_argument("--pin-stdin", action="store_true", help=_("read the PIN from standard input"))
    p.add_argument("--yes", action="store_true",
                   help=_("confirm the last try before the token locks"))
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    with open_backend(cfg) as backend:
        token = select_token(backend, args.token)
        (pin,) = pin_input.read_pins([_("User PIN: ")], args.pin_stdin)
        pin_policy.check_length(pin, token.pin_min, token.pin_max)  # no try wasted
        try:
            info = backend.login(token.serial, pin, confirm_last_try=args.yes)
        except ConfirmationRequired:
            if not pin_input.interactive(args.pin_stdin):
                raise
            if not pin_input.confirm(last_try_question()):
                raise Cancelled(what="login") from None
            info = backend.login(token.serial, pin, confirm_last_try=True)
        finally:
            pin = ""  # drop our reference early
        if args.json:
            print_json(info.to_json())
        else:
            print(_("Logged in."))
            if is_local(backend):
                print(_("(No agent is running: the PIN was verified and the token is logged "
                        "out again when this command ends.)"))
            print_table(token_rows(info))
    return 0
