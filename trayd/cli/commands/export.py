"""`trayd export --token SERIAL --id HEX -o FILE [--format der|pem] [--force]` (§4.4).

Exports the public certificate only; a private key can never be exported.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from trayd.cli.backend_choice import open_backend, select_token
from trayd.config import Config
from trayd.core.export import default_filename
from trayd.errors import NoSuchCertificate, UsageError
from trayd.i18n import _


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help=_("export a certificate (public part only)"))
    p.add_argument("--token", metavar="SERIAL", help=_("serial number of the token"))
    p.add_argument("--id", required=True, metavar="HEX", help=_("CKA_ID of the certificate (hex)"))
    p.add_argument("-o", "--output", required=True, metavar="FILE", help=_("file to write (or a folder: <certificate ID>.cer in it)"))
    p.add_argument("--format", choices=("der", "pem"), default=None,
                   help=_("der (.cer, default) or pem"))
    p.add_argument("--force", action="store_true", help=_("overwrite an existing file"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    fmt = args.format or ("pem" if args.output.lower().endswith(".pem") else "der")
    cert_id = args.id.replace(":", "").replace(" ", "")
    if not cert_id:
        raise UsageError(detail=_("--id must not be empty"))
    with open_backend(cfg) as backend:
        token = select_token(backend, args.token)
        target = Path(args.output).expanduser()
        if target.is_dir():  # a folder: name the file after the certificate ID (§4.4③)
            wanted = cert_id.lower()
            info = next((c for c in backend.list_certificates(token.serial)
                         if c.id.lower() == wanted), None)
            if info is None:
                raise NoSuchCertificate(token_serial=token.serial, cert_id=cert_id)
            target = target / default_filename(info.certificate_id, info.label, fmt)
        path = backend.export_certificate(token.serial, cert_id, target, fmt=fmt,
                                          force=args.force)
    print(_("The certificate was exported: {path}").format(path=path))
    return 0
