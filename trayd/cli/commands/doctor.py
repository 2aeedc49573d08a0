"""`trayd doctor [--json] [--check NAME]`: what works, what does not, and how to fix it.

Exit status 0 when no check reports an error (warnings are allowed: no token inserted,
no tray host, …), 1 otherwise. The checks live in `trayd/doctor/`.
"""
from __future__ import annotations

import argparse

from trayd.cli.output import add_json_option, print_json
from trayd.config import Config
from trayd.i18n import _, current_language


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help=_("check the installation and show how to fix problems"))
    add_json_option(p)
    p.add_argument("--check", action="append", metavar="NAME",
                   help=_("run only this check (repeatable)"))
    p.set_defaults(func=run)


MARKS = {"ok": "OK", "warning": "!!", "error": "NG", "skipped": "--"}


def run(args: argparse.Namespace, cfg: Config) -> int:
    from trayd import doctor

    results = doctor.run_all(cfg, args.check)
    ok = doctor.overall_ok(results)
    if args.json:
        print_json({"ok": ok, "language": current_language(),
                    "checks": [r.to_json() for r in results]})
        return 0 if ok else 1
    for r in results:
        print(f"[{MARKS.get(r.status, r.status)}] {r.title}: {r.detail}")
        if not r.ok and r.fix:
            print(f"     → {r.fix}")
    problems = sum(1 for r in results if not r.ok)
    print()
    print(_("No problems found.") if not problems else
          _("{n} problem(s) found.").format(n=problems))
    return 0 if ok else 1
