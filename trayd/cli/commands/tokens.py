"""`trayd tokens [--json]`: the トークン一覧 — every token with its PIN facts."""
from __future__ import annotations

import argparse

from trayd.cli.backend_choice import check_service, open_backend
from trayd.cli.output import add_json_option, print_json, print_table
from trayd.config import Config
from trayd.core.models import TokenInfo
from trayd.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokens", help=_("list the connected tokens"))
    add_json_option(p)
    p.set_defaults(func=run)


def status_text(t: TokenInfo) -> str:
    if t.locked:
        return _("locked")
    return _("logged in") if t.logged_in else _("not logged in")


def token_rows(t: TokenInfo) -> list[tuple[str, str]]:
    """The token information the management tool shows after login (§4.2③)."""
    pin_len = "-"
    if t.pin_min is not None or t.pin_max is not None:
        pin_len = f"{t.pin_min if t.pin_min is not None else '?'}–{t.pin_max if t.pin_max is not None else '?'}"
    return [
        (_("Token name"), t.label),
        (_("Serial number"), t.serial),
        (_("Manufacturer"), t.manufacturer),
        (_("Model"), t.model),
        (_("Reader"), t.reader),
        (_("Hardware version"), t.hardware_version or "-"),
        (_("Firmware version"), t.firmware_version or "-"),
        (_("User PIN length"), pin_len),
        (_("Tries left"), str(t.tries_left) if t.tries_left is not None else _("unknown")),
        (_("State"), status_text(t)),
    ]


def run(args: argparse.Namespace, cfg: Config) -> int:
    with open_backend(cfg) as backend:
        tokens = backend.list_tokens()
    if not tokens:
        check_service()
    if args.json:
        print_json([t.to_json() for t in tokens])
        return 0
    if not tokens:
        print(_("No token is connected. Please insert the USB token (ePass2003)."))
        return 0
    for i, t in enumerate(tokens):
        if i:
            print()
        print_table(token_rows(t))
    return 0
