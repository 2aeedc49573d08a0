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
        down: PcscUnavailable | None = None
    except PcscUnavailable as err:
        readers, down = [], err
    if args.json:
        # "denied": pcscd runs but refused this session (polkit), not the same as "down".
        state = "up" if down is None else ("denied" if down.denied else "down")
        out = {"pcsc": state, "readers": [r.to_json() for r in readers]}
        if down is not None:
            out["detail"] = down.detail
        print_json(out)
        return 0
    if down is not None:
        from trayd.messages import describe

        print(describe(down))
        return 0
    if not readers:
        print(_("No card reader is connected."))
        return 0
    for r in readers:
        if not r.card_present:
            state = _("no card")
        else:
            state = r.model or _("Smart card")
            state += f"  ATR {r.atr_hex}"
        print(f"{r.name}: {state}")
    return 0
