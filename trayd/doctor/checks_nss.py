"""NSS: the tools trayd drives, OpenSC in the browsers' databases, the root certificate."""
from __future__ import annotations

import shutil
from pathlib import Path

from trayd.doctor import ERROR, OK, SKIPPED, WARNING, CheckResult, Context, check
from trayd.i18n import _

NSS_TOOLS = ("certutil", "modutil")


@check("nss_tools", lambda: _("NSS tools (certutil, modutil)"), order=60)
def nss_tools(ctx: Context) -> CheckResult:
    missing = [t for t in NSS_TOOLS if not shutil.which(t)]
    ctx.facts["nss_tools"] = not missing
    if missing:
        return CheckResult("nss_tools", ERROR, _("Not found: {tools}").format(
            tools=", ".join(missing)), _("Install them: 'sudo apt install libnss3-tools'."))
    return CheckResult("nss_tools", OK, ", ".join(shutil.which(t) or t for t in NSS_TOOLS))


@check("browser", lambda: _("Browser registration (NSS databases)"), order=70)
def browser(ctx: Context) -> CheckResult:
    if not ctx.facts.get("nss_tools"):
        return CheckResult("browser", SKIPPED, _("The NSS tools are missing."))
    from trayd.platform import browser_module

    statuses = browser_module.status()
    from trayd.platform import nss_locations

    home = Path.home()
    missing = nss_locations.without_database([s.database for s in statuses], home)
    waiting = "; ".join(no_profile_words(b) for b in missing)
    if not statuses:
        return CheckResult("browser", WARNING, waiting or _(
            "No browser certificate database was found."), no_profile_advice(missing))
    absent = [s for s in statuses if s.state == "absent"]
    listing = "; ".join(f"{s.database.display}: {s.state}" for s in statuses)
    if waiting:
        listing += "; " + waiting
    if absent:
        return CheckResult("browser", WARNING, listing, _(
            "Register the token with the browsers: 'trayd browser register' (then restart "
            "the browser)."))
    if missing:
        return CheckResult("browser", WARNING, listing, no_profile_advice(missing))
    return CheckResult("browser", OK, listing)


def no_profile_words(browser) -> str:
    """「Firefox はインストールされていますが、プロファイルがまだありません」"""
    return _("{browser} is installed but has no profile yet").format(browser=browser.name)


def no_profile_advice(missing) -> str:
    """What to do for browsers that have never been started (no database yet)."""
    from trayd.platform import nss_locations

    if any(nss_locations.is_mozilla(b.family) for b in missing):
        return _("Start the browser once so it creates its profile: the running trayd agent "
                 "then adds the token and the root certificate to it (without the agent: "
                 "'trayd browser register' and 'trayd root install' afterwards).")
    if missing:
        return _("Run 'trayd browser register': it creates the database Chromium uses.")
    return _("Start Chromium or Firefox once, then run 'trayd browser register'.")


@check("root_certificate", lambda: _("Root certificate"), order=80)
def root_certificate(ctx: Context) -> CheckResult:
    from trayd.core import trust_state

    state = trust_state.load()
    if not state.roots and not state.system:
        return CheckResult("root_certificate", OK, _(
            "trayd has installed no root certificate (it offers to when a token is first "
            "inserted; 'trayd root install' does it by hand)."))
    if not ctx.facts.get("nss_tools"):
        return CheckResult("root_certificate", SKIPPED, _("The NSS tools are missing."))
    from trayd.platform import nss

    missing = []
    for rec in state.roots:
        db = nss.NssDatabase(Path(rec.database), "recorded")
        if not (db.path / "cert9.db").is_file() or nss.find_by_sha256(db, rec.sha256) is None:
            missing.append(f"{rec.subject} ({rec.database})")
    subjects = sorted({r.subject for r in state.roots} | {s.subject for s in state.system})
    detail = _("Installed by trayd: {list}").format(list="; ".join(subjects))
    if missing:
        return CheckResult("root_certificate", WARNING, detail + " / " + _(
            "no longer present: {list}").format(list="; ".join(missing)),
            _("Install it again: 'trayd root install'."))
    return CheckResult("root_certificate", OK, detail)
