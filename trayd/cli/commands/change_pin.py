"""`trayd change-pin [--token SERIAL] [--pin-stdin] [--yes]` (§4.5 ユーザ PIN 変更).

Three PINs: current, new, new again (three lines with --pin-stdin). Length, match and
equality are refused before anything is sent; a 低 (low) strength PIN needs --yes.
"""
from __future__ import annotations

import argparse

from trayd.cli import pin_input
from trayd.cli.backend_choice import open_backend, select_token
from trayd.config import Config
from trayd.core import pin_policy
from trayd.errors import Cancelled, ConfirmationRequired
from trayd.i18n import _
from trayd.messages import last_try_question


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("change-pin", help=_("change the user PIN"))
    p.add_argument("--token", metavar="SERIAL", help=_("serial number of the token"))
    p.add_argument("--pin-stdin", action="store_true",
                   help=_("read current, new and repeated PIN from standard input (3 lines)"))
    p.add_argument("--yes", action="store_true",
                   help=_("accept a weak PIN and confirm the last try before the token locks"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    with open_backend(cfg) as backend:
        token = select_token(backend, args.token)
        current, new, repeat = pin_input.read_pins(
            [_("Current PIN: "), _("New PIN: "), _("Re-enter: ")], args.pin_stdin)
        strength = pin_policy.check_new_pin(current, new, repeat, token.pin_min, token.pin_max)
        print(_("New PIN strength: {level}").format(level=strength.label))
        confirm_weak = args.yes
        if strength == pin_policy.Strength.LOW and not confirm_weak:
            if not pin_input.interactive(args.pin_stdin):
                raise ConfirmationRequired(reason="weak_pin")
            if not pin_input.confirm(_("The new PIN is weak (strength: low). Use it anyway?")):
                raise Cancelled(what="change_pin")
            confirm_weak = True
        try:
            backend.change_pin(token.serial, current, new, confirm_weak=confirm_weak,
                               confirm_last_try=args.yes)
        except ConfirmationRequired as err:
            if err.reason != "last_try" or not pin_input.interactive(args.pin_stdin):
                raise
            if not pin_input.confirm(last_try_question()):
                raise Cancelled(what="change_pin") from None
            backend.change_pin(token.serial, current, new, confirm_weak=True,
                               confirm_last_try=True)
        finally:
            current = new = repeat = ""
    print(_("User PIN changed successfully."))
    return 0
