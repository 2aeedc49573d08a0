"""`trayd tokens [--json]`: the トークン一覧 — every token with its PIN facts."""
from __future__ import annotations

import argparse

from trayd.cli.backend_choice import check_service, open_backend
from trayd.cli.output import add_json_option, print_json, print_table
from trayd.config import Config
from trayd.i18n import _
from trayd.token_rows import token_rows


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokens", help=_("list the connected tokens"))
    add_json_option(p)
    p.set_defaults(func=run)


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
