"""`trayd cleanup [--dry-run] [--keep-config] [--json]`: undo what trayd added for this user.

Run it as each user before `apt remove trayd` (the package's removal message says so).
Exit status 0 when everything was undone, 1 when a step failed (run it again).
"""
from __future__ import annotations

import argparse

from trayd.cli.output import add_json_option, print_json
from trayd.config import Config
from trayd.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cleanup", help=_("undo everything trayd added for this user "
                                         "(before uninstalling)"))
    p.add_argument("--dry-run", action="store_true", help=_("only show what would be undone"))
    p.add_argument("--keep-config", action="store_true",
                   help=_("keep ~/.config/trayd (settings)"))
    add_json_option(p)
    p.set_defaults(func=run)


def _what(what: str) -> str:
    return {
        "agent": _("Agent"),
        "root": _("Root certificate"),
        "system_root": _("Root certificate (system)"),
        "module": _("Browser registration"),
        "database": _("Certificate database"),
        "autostart": _("Autostart"),
        "files": _("trayd files"),
    }.get(what, what)


def _outcome(outcome: str) -> str:
    return {
        "removed": _("removed"),
        "restored": _("previous trust restored"),
        "stopped": _("stopped"),
        "gone": _("already gone"),
        "kept": _("kept"),
        "planned": _("would be undone"),
        "failed": _("FAILED"),
    }.get(outcome, outcome)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.platform import user_cleanup

    report = user_cleanup.cleanup(dry_run=args.dry_run, keep_config=args.keep_config)
    if args.json:
        print_json(report.to_json())
        return 0 if report.ok else 1
    for a in report.actions:
        line = f"{_what(a.what)}: {a.target}: {_outcome(a.outcome)}"
        print(line + (f" ({a.detail})" if a.detail else ""))
    if not report.actions:
        print(_("trayd has added nothing for this user; nothing to undo."))
    elif report.ok:
        print(_("Done. trayd's changes for this user have been undone.")
              if not args.dry_run else _("Nothing was changed (--dry-run)."))
    else:
        print(_("Some steps failed; fix the cause and run 'trayd cleanup' again."))
    return 0 if report.ok else 1
