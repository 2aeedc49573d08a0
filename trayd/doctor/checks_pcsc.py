"""PC/SC: is pcscd answering, may we use it, which readers are there, is an ePass2003 in.

Why a separate access check: pcsc-lite 2.x (Debian 13) is built with polkit and refuses
clients outside the active local session with SCARD_W_SECURITY_VIOLATION; "pcscd is not
running" would send the user to restart a daemon that is running fine.
"""
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
        ctx.facts["pcscd_denied"] = err.denied
        if err.denied:
            # The daemon runs: the fix is access (polkit), not starting pcscd.
            from trayd.messages import pcscd_denied_fix

            return CheckResult("pcscd", ERROR, _("pcscd is running but refused access "
                                                 "(polkit): {detail}").format(detail=err.detail),
                               pcscd_denied_fix())
        return CheckResult("pcscd", ERROR, _("pcscd does not answer: {detail}").format(
            detail=err.detail), _("Install and start pcscd: 'sudo apt install pcscd' and "
                                  "'sudo systemctl enable --now pcscd.socket'."))
    ctx.facts["pcscd"] = True
    ctx.facts["pcscd_denied"] = False
    ctx.facts["readers"] = readers
    return CheckResult("pcscd", OK, _("pcscd is running."))


@check("pcsc_access", lambda: _("Access to the smart card service (polkit)"), order=15)
def pcsc_access(ctx: Context) -> CheckResult:
    """pcsc-lite 2.x asks polkit for every client: refused outside the active local session."""
    from trayd.messages import pcscd_denied_fix

    if ctx.facts.get("pcscd_denied"):
        return CheckResult("pcsc_access", ERROR,
                           _("pcscd refused access (polkit): SCARD_W_SECURITY_VIOLATION."),
                           pcscd_denied_fix())
    if not ctx.facts.get("pcscd"):
        return CheckResult("pcsc_access", SKIPPED, _("pcscd is not running."))
    return CheckResult("pcsc_access", OK, _("pcscd allows this session."))


@check("readers", lambda: _("Card readers"), order=20)
def readers(ctx: Context) -> CheckResult:
    if not ctx.facts.get("pcscd"):
        return CheckResult("readers", SKIPPED, _not_usable(ctx))
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
        return CheckResult("token", SKIPPED, _not_usable(ctx))
    found = ctx.facts.get("readers", [])
    tokens = [r for r in found if r.card_present and r.model == EPASS2003]
    if tokens:
        ctx.facts["epass2003"] = tokens
        return CheckResult("token", OK, _("Recognised: {list}").format(
            list=", ".join(f"{r.name} (ATR {r.atr_hex})" for r in tokens)))
    others = [r for r in found if r.card_present]
    if others:
        return CheckResult("token", WARNING, _("A card is present but it is not an ePass2003: "
                                               "{list}").format(
            list=", ".join(f"{r.name} (ATR {r.atr_hex})" for r in others)),
            _("Insert the USB token (ePass2003)."))
    return CheckResult("token", WARNING, _("No ePass2003 is inserted."),
                       _("Insert the USB token (ePass2003)."))


def _not_usable(ctx: Context) -> str:
    if ctx.facts.get("pcscd_denied"):
        return _("pcscd refused access (polkit).")
    return _("pcscd is not running.")
