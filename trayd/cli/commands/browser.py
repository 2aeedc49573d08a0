"""`trayd browser status|register|unregister`: OpenSC's PKCS#11 module in the browsers' NSS
databases, so Chromium and Firefox offer the token's certificate and ask for the PIN
(manual §3.1④–⑦). `unregister` removes only what trayd added (also run on uninstall).
"""
from __future__ import annotations

import argparse

from trayd.cli.output import add_json_option, print_json
from trayd.config import Config
from trayd.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("browser", help=_("use the token in web browsers (NSS registration)"))
    bsub = p.add_subparsers(dest="browser_command", metavar="ACTION")
    for name, helptext, func in (
        ("status", _("where OpenSC is registered for the browsers"), run_status),
        ("register", _("register OpenSC in every browser database"), run_register),
        ("unregister", _("remove what trayd registered"), run_unregister),
    ):
        s = bsub.add_parser(name, help=helptext)
        add_json_option(s)
        s.set_defaults(func=func)
    p.set_defaults(func=lambda args, cfg: (p.print_help(), 2)[1])


def _state_words(state: str) -> str:
    return {
        "registered_by_trayd": _("registered by trayd"),
        "registered": _("already registered (not by trayd)"),
        "p11-kit-proxy": _("provided by p11-kit-proxy (not added again)"),
        "absent": _("not registered"),
    }.get(state, state)


def without_database(dbs) -> list:
    """Installed browsers that have no database yet (never started)."""
    from pathlib import Path

    from trayd.platform import nss_locations

    return nss_locations.without_database(list(dbs), Path.home())


def print_without_database(missing) -> None:
    from trayd.doctor.checks_nss import no_profile_advice, no_profile_words

    for browser in missing:
        print(no_profile_words(browser) + f" ({browser.program})")
    if missing:
        print(no_profile_advice(missing))


def _print(statuses) -> None:
    missing = without_database(s.database for s in statuses)
    if not statuses and not missing:
        print(_("No NSS database found (it is created on the first registration)."))
    for st in statuses:
        via = f"  [{st.module}: {st.library}]" if st.module else ""
        print(f"{st.database.display}: {_state_words(st.state)}{via}")
    print_without_database(missing)


def run_status(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.platform import browser_module

    statuses = browser_module.status()
    if args.json:
        try:
            library = browser_module.module_path(cfg.pkcs11_module)
        except Exception:  # noqa: BLE001 - status still reports the databases
            library = None
        print_json({"module": library, "databases": [s.to_json() for s in statuses],
                    "without_database": [
                        {"browser": b.name, "family": b.family, "program": b.program}
                        for b in without_database(s.database for s in statuses)]})
        return 0
    _print(statuses)
    return 0


def run_register(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.platform import browser_module

    library = browser_module.module_path(cfg.pkcs11_module)
    statuses = browser_module.register(library)
    if args.json:
        print_json({"module": library, "databases": [s.to_json() for s in statuses]})
        return 0
    _print(statuses)
    from trayd.platform import nss

    # A running browser reads pkcs11.txt only at start-up; one that is not running picks
    # the module up when it starts.
    running = [s.database for s in statuses
               if s.state == "registered_by_trayd" and nss.in_use(s.database)]
    if running:
        print(_("{browsers} is running: restart the browser so it loads the module.").format(
            browsers=", ".join(dict.fromkeys(db.browser for db in running))))
    return 0


def run_unregister(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.platform import browser_module

    done = browser_module.unregister()
    if args.json:
        print_json({"removed": [{"path": str(db.path), "result": r} for db, r in done]})
        return 0
    if not done:
        print(_("trayd has registered nothing."))
    for db, result in done:
        word = _("removed") if result == "removed" else _("already gone")
        print(f"{db.path}: {word}")
    return 0
