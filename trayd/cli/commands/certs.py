"""`trayd certs [--token SERIAL] [--json]`: 証明書情報 of every certificate object."""
from __future__ import annotations

import argparse

from trayd.cli.backend_choice import open_backend, select_token
from trayd.cli.output import add_json_option, print_json, print_table
from trayd.config import Config
from trayd.core.models import CertificateInfo
from trayd.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("certs", help=_("show the certificates on the tokens"))
    p.add_argument("--token", metavar="SERIAL", help=_("serial number of the token"))
    add_json_option(p)
    p.set_defaults(func=run)


def yes_no(value: bool | None) -> str:
    if value is None:
        return "-"
    return _("yes") if value else _("no")


def cert_rows(c: CertificateInfo) -> list[tuple[str, str]]:
    """General + Details (§4.3②③④) as label/value rows."""
    if not c.readable:
        return [
            (_("Label"), c.label or "-"),
            (_("Object ID (CKA_ID)"), c.id or "-"),
            (_("State"), _("unreadable certificate object")),
            (_("Reason"), c.error or "-"),
        ]
    key = f"{c.key_type or '?'} {c.key_bits or ''}".strip()
    return [
        (_("Label"), c.label or "-"),
        (_("Object ID (CKA_ID)"), c.id or "-"),
        (_("Certificate ID"), c.certificate_id or "-"),
        (_("Subject"), c.subject or "-"),
        (_("Issuer"), c.issuer or "-"),
        (_("Serial number"), c.serial_hex or "-"),
        (_("Valid from"), c.not_before or "-"),
        (_("Valid to"), c.not_after or "-"),
        (_("Days left"), str(c.days_left) if c.days_left is not None else "-"),
        (_("Signature algorithm"), c.signature_algorithm or "-"),
        (_("Public key"), key),
        (_("Key usage"), ", ".join(c.key_usage) or "-"),
        (_("Extended key usage"), ", ".join(c.extended_key_usage) or "-"),
        (_("Certificate authority"), yes_no(c.is_ca)),
        (_("Self-signed"), yes_no(c.self_signed)),
        (_("SHA-1 fingerprint"), c.sha1 or "-"),
        (_("SHA-256 fingerprint"), c.sha256 or "-"),
    ]


def run(args: argparse.Namespace, cfg: Config) -> int:
    with open_backend(cfg) as backend:
        serial = args.token
        certs = backend.list_certificates(serial)
        if serial is None and not certs:
            # Say "no token" rather than "no certificates" when nothing is connected.
            if not backend.list_tokens():
                select_token(backend, None)
    if args.json:
        print_json([c.to_json() for c in certs])
        return 0
    if not certs:
        print(_("No certificates on the token."))
        return 0
    for i, c in enumerate(certs):
        if i:
            print()
        print(f"[{c.token_serial}] {c.label or c.id}")
        print_table(cert_rows(c))
    return 0
