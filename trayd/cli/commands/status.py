"""`trayd status [--json]`: PC/SC readers, cards present, ATRs, recognised models.

With an agent running, also which token it identified in each reader and whether it is
logged in: the agent answers from its token model, so the card is not asked (a status
query costs no APDU and never disturbs the agent's login)."""
from __future__ import annotations

import argparse
import os
from types import SimpleNamespace
from typing import Any

from trayd.cli.output import add_json_option, print_json
from trayd.config import Config
from trayd.core import pcsc
from trayd.errors import PcscUnavailable, TraydError
from trayd.i18n import _
from trayd.ipc.client import NO_AGENT_ENV, connect
from trayd.token_rows import state_text


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
    known = _agent_view()
    if args.json:
        # "denied": pcscd runs but refused this session (polkit), not the same as "down".
        state = "up" if down is None else ("denied" if down.denied else "down")
        out = {"pcsc": state, "readers": [r.to_json() for r in readers]}
        if down is not None:
            out["detail"] = down.detail
        out["agent"] = known  # None: no agent answered
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
        token = _token_in(known, r.name)
        if token is not None and r.card_present:
            print("  " + _("Token: {label} (serial number {serial}), {state}").format(
                label=token["label"], serial=token["serial"],
                state=state_text(SimpleNamespace(**token))))
    return 0


def _agent_view() -> dict[str, Any] | None:
    """The running agent's token model, or None (no agent, `TRAYD_NO_AGENT=1`, an agent
    too old to answer)."""
    if os.environ.get(NO_AGENT_ENV) == "1":
        return None
    client = connect(timeout=1.0)
    if client is None:
        return None
    try:
        with client:
            return client.readers()
    except (TraydError, OSError):
        return None


def _token_in(known: dict[str, Any] | None, reader: str) -> dict[str, Any] | None:
    for entry in (known or {}).get("readers", []):
        if entry.get("name") == reader:
            return entry.get("token")
    return None
