"""`trayd root status|install|remove`: the token's root certificate in the user's NSS databases.

Why a CLI besides the first-run dialog: without a display (ssh, a headless session) the
agent's notification points here, and scripts / the uninstaller need the same actions.
Nothing is installed without an explicit yes after the subject and SHA-256 fingerprint
are shown (`--yes` is that yes for scripts). Only CA certificates are accepted.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from trayd.cli.output import add_json_option, print_json
from trayd.config import Config
from trayd.core import trust_roots, trust_state
from trayd.core.certificates import colon_hex
from trayd.core.trust_roots import Candidate, CertFacts, warning_fields
from trayd.errors import Cancelled, TraydError, UsageError
from trayd.i18n import _

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("root", help=_("root certificate of the token: status, install, remove"))
    rsub = p.add_subparsers(dest="root_command", metavar="ACTION")
    s = rsub.add_parser("status", help=_("CA certificates of present tokens and where they are trusted"))
    add_json_option(s)
    s.add_argument("--token", metavar="SERIAL", help=_("only this token"))
    s.set_defaults(func=run_status)
    i = rsub.add_parser("install", help=_("trust the token's root certificate in the browsers"))
    i.add_argument("--yes", action="store_true", help=_("do not ask; install after showing it"))
    i.add_argument("--sha256", metavar="FP", help=_("only the certificate with this SHA-256 fingerprint"))
    i.add_argument("--file", type=Path, metavar="PATH",
                   help=_("install a CA certificate from a file instead of the token"))
    i.add_argument("--token", metavar="SERIAL", help=_("only this token"))
    i.add_argument("--system", action="store_true",
                   help=_("also install it system-wide (asks for the administrator password)"))
    i.add_argument("--dialog", action="store_true",
                   help=_("ask with the security warning window instead of the terminal"))
    add_json_option(i)
    i.set_defaults(func=run_install)
    r = rsub.add_parser("remove", help=_("remove a root certificate that trayd installed"))
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--sha256", metavar="FP", help=_("SHA-256 fingerprint of the certificate"))
    g.add_argument("--all", action="store_true", help=_("everything trayd installed (uninstall)"))
    add_json_option(r)
    r.set_defaults(func=run_remove)
    p.set_defaults(func=lambda args, cfg: (p.print_help(), 2)[1])


# ------------------------------------------------------------------ gathering

def token_certificates(cfg: Config, serial: str | None = None) -> tuple[dict[str, list[CertFacts]], str | None]:
    """{token serial: [certificate facts]} of the present tokens, through the running agent
    when there is one (the card has one secure-messaging session), else in-process.
    The second value says why tokens could not be read (None when they could)."""
    from trayd.ipc.client import agent_or_local

    backend = None
    try:
        backend = agent_or_local(cfg)
        out: dict[str, list[CertFacts]] = {}
        for info in backend.list_certificates(serial):
            if not info.readable:
                continue
            der = backend.certificate_der(info.token_serial, info.id)
            try:
                out.setdefault(info.token_serial, []).append(trust_roots.facts(der))
            except TraydError:
                continue
        return out, None
    except ImportError as exc:
        return {}, f"token service unavailable ({exc})"
    except TraydError as exc:
        from trayd.messages import describe

        if serial:
            raise
        return {}, describe(exc)
    finally:
        if backend is not None:
            try:
                backend.close()
            except Exception:  # noqa: BLE001 - closing must not hide the answer
                pass


def gather(cfg: Config, serial: str | None = None) -> tuple[list[Candidate], dict[str, list[CertFacts]], str | None]:
    tokens, problem = token_certificates(cfg, serial)
    bundle = trust_roots.load_bundle()
    found: list[Candidate] = []
    seen: set[str] = set()
    for token_serial, certs in tokens.items():
        for cand in trust_roots.candidates(certs, bundle, token_serial):
            if cand.cert.sha256 not in seen:
                seen.add(cand.cert.sha256)
                found.append(cand)
    return found, tokens, problem


def _print_cert(cert: CertFacts) -> None:
    from trayd.cli.output import print_table

    print_table(warning_fields(cert))
    if cert.expired:
        print(_("Warning: this certificate has expired."))


# ------------------------------------------------------------------ status

def run_status(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.platform import nss, trust_install

    found, _tokens, problem = gather(cfg, args.token)
    dbs = nss.find_databases()
    state = trust_state.load()
    entries = []
    for cand in found:
        entries.append({**cand.to_json(),
                        "declined": cand.cert.sha256 in state.declined,
                        "databases": [p.to_json() for p in trust_install.placements(cand.cert, dbs)]})
    installed = sorted({(r.sha256, r.subject) for r in state.roots})
    if args.json:
        from trayd.cli.commands.browser import without_database

        print_json({"certificates": entries, "databases": [d.to_json() for d in dbs],
                    "without_database": [{"browser": b.name, "family": b.family,
                                          "program": b.program}
                                         for b in without_database(dbs)],
                    "installed_by_trayd": [{"sha256": s, "subject": subj} for s, subj in installed],
                    "tokens_problem": problem})
        return 0
    if problem:
        print(_("Tokens could not be read: {why}").format(why=problem))
    from trayd.cli.commands.browser import print_without_database, without_database

    if not dbs:
        print(_("No NSS database found (it is created on the first install)."))
    print_without_database(without_database(dbs))
    if not entries:
        print(_("No CA certificate found on the present tokens or in the root bundle."))
    for entry in entries:
        print(f"{entry['subject']}")
        print("  " + "SHA-256: " + colon_hex(entry["sha256"]))
        source = _("on token {serial}").format(serial=entry["token_serial"]) \
            if entry["source"] == "token" else _("from the root bundle")
        print("  " + _("Source: {source}").format(source=source))
        if entry["declined"]:
            print("  " + _("Declined earlier (not asked again on insertion)."))
        for p in entry["databases"]:
            where = f"{p['browser']}{' ' + p['profile'] if p['profile'] else ''} ({p['path']})"
            if p["trusted"]:
                how = _("trusted ({trust})").format(trust=p["trust"])
                if p["installed_by_trayd"]:
                    how += " " + _("installed by trayd")
            elif p.get("error"):
                how = _("unreadable: {error}").format(error=p["error"])
            else:
                how = _("not trusted")
            print(f"  {where}: {how}")
    shown = {e["sha256"] for e in entries}
    for sha, subject in installed:
        if sha not in shown:
            print(_("Installed by trayd (token not present): {subject}").format(subject=subject))
            print("  " + "SHA-256: " + colon_hex(sha))
    return 0


# ------------------------------------------------------------------ install

def _confirm(question: str) -> bool:
    """Ask y/N on the terminal (stdin); end of input means no."""
    sys.stdout.write(question + " [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes", "はい")


def _use_dialog(args: argparse.Namespace) -> bool:
    """The window asks when requested, or when started without a terminal (the tray's
    menu entry) on a desktop."""
    from trayd.platform.display import has_display

    if args.dialog:
        return True
    return has_display() and not sys.stdin.isatty()


def _dialog_confirms(cert: CertFacts, token: str | None) -> bool:
    """Show the セキュリティ警告 window (in the CLI's language, through the one launcher);
    True on はい."""
    import os
    import tempfile

    from trayd.core.certificates import der_to_pem
    from trayd.i18n import current_language
    from trayd.platform.launcher import Launcher

    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as f:
        f.write(der_to_pem(cert.der))
    try:
        argv = ["root-warning", "--cert", f.name] + (["--token", token] if token else [])
        return Launcher(current_language()).run(*argv) == 0
    finally:
        os.unlink(f.name)


def run_install(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.platform import nss, trust_install

    others: list[CertFacts] = []
    if args.file:
        try:
            certs = trust_roots.read_bundle_file(args.file) if args.file.exists() else []
        except OSError:
            certs = []
        if not certs:
            raise UsageError(detail=_("No certificate could be read from {path}.").format(
                path=args.file))
        for cert in certs:
            trust_roots.require_ca(cert, certs)
        chosen = [Candidate(c, "file") for c in certs]
        others = certs
    else:
        chosen, tokens, problem = gather(cfg, args.token)
        others = [c for certs in tokens.values() for c in certs]
        if problem and not chosen:
            print(_("Tokens could not be read: {why}").format(why=problem), file=sys.stderr)
    if args.sha256:
        want = nss.normalise_fingerprint(args.sha256)
        chosen = [c for c in chosen if c.cert.sha256 == want]
        if not chosen:
            raise UsageError(detail=_("No CA certificate with SHA-256 {fp} on the present "
                                      "tokens or in the root bundle.").format(fp=args.sha256))
    if not chosen:
        raise UsageError(detail=_("No CA certificate found on the present tokens or in the "
                                  "root bundle."))
    results = []
    declined_any = False
    for cand in chosen:
        cert = cand.cert
        trust_roots.require_ca(cert, others)
        if trust_install.trusted_everywhere(cert) and not args.system:
            if not args.json:
                print(_("Already trusted: {subject}").format(subject=cert.subject))
            results.append({**cand.to_json(), "result": "already_trusted", "changes": []})
            continue
        if not args.json:
            print(_("You are about to install a certificate from a certification authority (CA) "
                    "as a trusted root:"))
            _print_cert(cert)
        if not args.yes:
            if args.json:
                raise UsageError(detail=_("--json needs --yes (nothing was installed)."))
            if _use_dialog(args):
                confirmed = _dialog_confirms(cert, cand.token_serial)
            else:
                confirmed = _confirm(_("Do you want to install this certificate?"))
            if not confirmed:
                declined_any = True
                print(_("Not installed."))
                results.append({**cand.to_json(), "result": "declined", "changes": []})
                continue
        changes = trust_install.install_root(cert, others)
        trust_state.forget_declined(cert.sha256)
        entry = {**cand.to_json(), "result": "installed",
                 "changes": [c.to_json() for c in changes]}
        if args.system:
            from trayd.platform import system_trust

            entry["system"] = system_trust.install(cert).to_json()
        results.append(entry)
        if not args.json:
            for change in changes:
                print("  " + "{db}: {action} ({nickname})".format(
                    db=change.database.display, action=_action_words(change.action),
                    nickname=change.nickname))
            if args.system:
                print("  " + _("System trust store: installed"))
    if args.json:
        print_json({"results": results})
    if declined_any and not any(r["result"] == "installed" for r in results):
        raise Cancelled(what="root install")
    return 0


def _action_words(action: str) -> str:
    return {
        "added": _("added, trusted as CA (C,,)"),
        "trust_set": _("already present; trust set to CA"),
        "already_trusted": _("already trusted"),
        "removed": _("removed"),
        "trust_restored": _("previous trust restored"),
        "gone": _("already gone"),
    }.get(action, action)


# ------------------------------------------------------------------ remove

def run_remove(args: argparse.Namespace, cfg: Config) -> int:
    from trayd.platform import nss, trust_install

    state = trust_state.load()
    if args.all:
        fps = sorted({r.sha256 for r in state.roots} | {s.sha256 for s in state.system})
    else:
        fp = nss.normalise_fingerprint(args.sha256)
        if fp not in {r.sha256 for r in state.roots} | {s.sha256 for s in state.system}:
            raise UsageError(detail=_("trayd did not install a certificate with SHA-256 {fp}; "
                                      "nothing was removed.").format(fp=args.sha256))
        fps = [fp]
    report = []
    for fp in fps:
        changes = trust_install.remove_root(fp)
        entry = {"sha256": fp, "changes": [c.to_json() for c in changes]}
        if any(s.sha256 == fp for s in state.system):
            from trayd.platform import system_trust

            entry["system"] = system_trust.remove(fp)
        report.append(entry)
        if not args.json:
            print("SHA-256: " + colon_hex(fp))
            for change in changes:
                print("  " + "{db}: {action} ({nickname})".format(
                    db=change.database.display, action=_action_words(change.action),
                    nickname=change.nickname))
            if "system" in entry:
                print("  " + _("System trust store: removed"))
    if args.json:
        print_json({"removed": report})
    elif not fps:
        print(_("trayd has installed no root certificate."))
    return 0
