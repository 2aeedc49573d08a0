"""`trayd status [--json]`: PC/SC readers, cards present, ATRs, recognised models."""
from __future__ import annotations

import argparse

from trayd.cli.output import add_json_option, print_json
from trayd.config import Config
from trayd.core import pcsc
from trayd.errors import PcscUnavailable
from trayd.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help=_("show readers and tokens"))
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    try:
        readers = pcsc.snapshot()
        up = True
    except PcscUnavailable as err:
        readers, up = [], False
        detail = err.detail
    if args.json:
        print_json({"pcsc": "up" if up else "down", "readers": [r.to_json() for r in readers]})
        return 0
    if not up:
        from trayd.messages import describe

        print(describe(PcscUnavailable(detail=detail)))
        return 0
    if not readers:
        print(_("No card reader is connected."))
        return 0
    for r in readers:
        if not r.card_present:
            state = _("no card")
        else:
            state = r.model or _("Smart card")
            state += f"  ATR {r.atr}"
        print(f"{r.name}: {state}")
    return 0
