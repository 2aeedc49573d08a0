"""PC/SC: is pcscd answering, which readers are there, is an ePass2003 among the cards."""
from __future__ import annotations

from trayd.doctor import ERROR, OK, SKIPPED, WARNING, CheckResult, Context, check
from trayd.i18n import _


@check("pcscd", lambda: _("Smart card service (pcscd)"), order=10)
def pcscd(ctx: Context) -> CheckResult:
    from trayd.core import pcsc
    from trayd.errors import PcscUnavailable

    try:
        readers = pcsc.snapshot()
    except PcscUnavailable as err:
        ctx.facts["pcscd"] = False
        return CheckResult("pcscd", ERROR, _("pcscd does not answer: {detail}").format(
            detail=err.detail), _("Install and start pcscd: 'sudo apt install pcscd' and "
                                  "'sudo systemctl enable --now pcscd.socket'."))
    ctx.facts["pcscd"] = True
    ctx.facts["readers"] = readers
    return CheckResult("pcscd", OK, _("pcscd is running."))


@check("readers", lambda: _("Card readers"), order=20)
def readers(ctx: Context) -> CheckResult:
    if not ctx.facts.get("pcscd"):
        return CheckResult("readers", SKIPPED, _("pcscd is not running."))
    found = ctx.facts.get("readers", [])
    if not found:
        return CheckResult("readers", WARNING, _("No card reader is connected."),
                           _("Insert the USB token (ePass2003). It is its own reader."))
    names = ", ".join(r.name for r in found)
    return CheckResult("readers", OK, _("{n} reader(s): {names}").format(
        n=len(found), names=names))


@check("token", lambda: _("ePass2003 token"), order=30)
def token(ctx: Context) -> CheckResult:
    from trayd.core.recognition import EPASS2003

    if not ctx.facts.get("pcscd"):
        return CheckResult("token", SKIPPED, _("pcscd is not running."))
    found = ctx.facts.get("readers", [])
    tokens = [r for r in found if r.card_present and r.model == EPASS2003]
    if tokens:
        ctx.facts["epass2003"] = tokens
        return CheckResult("token", OK, _("Recognised: {list}").format(
            list=", ".join(f"{r.name} (ATR {r.atr})" for r in tokens)))
    others = [r for r in found if r.card_present]
    if others:
        return CheckResult("token", WARNING, _("A card is present but it is not an ePass2003: "
                                               "{list}").format(
            list=", ".join(f"{r.name} (ATR {r.atr})" for r in others)),
            _("Insert the USB token (ePass2003)."))
    return CheckResult("token", WARNING, _("No ePass2003 is inserted."),
                       _("Insert the USB token (ePass2003)."))
