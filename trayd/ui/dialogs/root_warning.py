"""セキュリティ警告 — the root certificate warning of the manual's §3.1②.

Why it looks like Windows': the EPPCERT users know the Windows dialog ("発行者が次である
と主張する証明機関 (CA) から証明書をインストールしようとしています…", 拇印 (sha1),
はい / いいえ). We show the same facts plus what Windows hides: issuer, validity and the
SHA-256 fingerprint. The dialog only asks; the agent (or CLI) that started it installs
on はい and records いいえ, so the decision and the trust store stay in one process.

Run as `python -m trayd.ui root-warning --cert FILE` (or `main(argv)` standalone).
Exit status: 0 = はい, 6 = いいえ (or the window was closed), 1 = unreadable certificate.
The certificate file holds a public certificate (PEM or DER) — nothing secret.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from trayd.core.certificates import colon_hex
from trayd.core.trust_roots import warning_fields
from trayd.i18n import _

YES, NO, ERROR = 0, 6, 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cert", type=Path, required=True, metavar="FILE",
                   help="CA certificate to show (PEM or DER)")
    p.add_argument("--token", default=None, metavar="LABEL",
                   help="token the certificate came from (shown in the text)")


def warning_text(cert, token: str | None = None) -> str:
    """The Windows wording with trayd's subject; `cert` is a trust_roots.CertFacts."""
    name = cert.common_name
    parts = [
        _("You are about to install a certificate from a certification authority (CA) "
          "claiming to represent:"),
        "",
        f"    {name}",
        "",
        _('trayd cannot validate that the certificate is actually from "{name}". You should '
          'confirm its origin by contacting "{name}". The following number will assist you '
          'in this process:').format(name=name),
        "",
        _("Thumbprint (sha1): {fp}").format(fp=colon_hex(cert.sha1)),
        "",
        _("Warning:"),
        _("If you install this root certificate, your web browsers will automatically trust "
          "any certificate issued by this CA. Installing a certificate with an unconfirmed "
          "thumbprint is a security risk. If you click \"Yes\" you acknowledge this risk."),
    ]
    if token:
        parts += ["", _("The certificate is stored on the token {token}.").format(token=token)]
    parts += ["", _("Do you want to install this certificate?")]
    return "\n".join(parts)



def _build(root, cert, token: str | None):
    """The dialog window; returns it (a base.Dialog whose `result` is "yes"/"no"/None)."""
    from tkinter import ttk

    from trayd.ui.dialogs.base import Dialog, _icon
    from trayd.ui.tk_hook import hook_register

    d = Dialog(root, _("Security Warning"), "root")
    body = ttk.Frame(d, padding=(18, 16, 18, 8))
    body.pack(fill="both", expand=True)
    icon = _icon(d, "warning")
    if icon:
        ttk.Label(body, image=icon).grid(row=0, column=0, sticky="n", padx=(0, 14))
    text = ttk.Label(body, text=warning_text(cert, token), wraplength=520, justify="left")
    text.grid(row=0, column=1, sticky="w")
    hook_register("root.text", text)
    box = ttk.LabelFrame(body, text=_("Certificate"), padding=(10, 6))
    box.grid(row=1, column=0, columnspan=2, sticky="ew", pady=(12, 0))
    for r, (key, value) in enumerate(warning_fields(cert)):
        ttk.Label(box, text=key).grid(row=r, column=0, sticky="nw", padx=(0, 10))
        v = ttk.Label(box, text=value, wraplength=420, justify="left")
        v.grid(row=r, column=1, sticky="w")
        hook_register(f"root.detail.{r}", v)
    if cert.expired:
        warn = ttk.Label(body, text=_("Warning: this certificate has expired."),
                         foreground="#b00000")
        warn.grid(row=2, column=0, columnspan=2, sticky="w", pady=(8, 0))
    row = ttk.Frame(d, padding=(12, 4, 12, 12))
    row.pack(fill="x")
    no = ttk.Button(row, text=_("No"), width=10, command=lambda: d.close("no"))
    yes = ttk.Button(row, text=_("Yes"), width=10, command=lambda: d.close("yes"))
    no.pack(side="right", padx=4)
    yes.pack(side="right", padx=4)
    hook_register("root.yes", yes)
    hook_register("root.no", no)
    # Like Windows, the safe answer is the default: Return / Escape mean いいえ.
    no.configure(default="active")
    d.bind("<Return>", lambda _e: d.close("no"))
    d.focus_target = no  # type: ignore[attr-defined]
    d.cancel = lambda: d.close("no")  # type: ignore[method-assign]
    d.protocol("WM_DELETE_WINDOW", d.cancel)
    d.bind("<Escape>", lambda _e: d.cancel())
    return d


def run(args: argparse.Namespace) -> int:
    from trayd.core import trust_roots
    from trayd.errors import TraydError

    try:
        cert = trust_roots.facts(args.cert.read_bytes())
    except (OSError, TraydError) as exc:
        print(f"trayd.ui root-warning: {args.cert}: {exc}", file=sys.stderr)
        return ERROR
    from trayd.ui.tk_hook import install_test_hook
    from trayd.ui.tk_root import make_root

    root = make_root()
    root.withdraw()
    install_test_hook(root)
    try:
        d = _build(root, cert, args.token)
        answer = d.show(d.focus_target)  # type: ignore[attr-defined]
    finally:
        try:
            root.destroy()
        except Exception:  # noqa: BLE001 - already gone
            pass
    return YES if answer == "yes" else NO


class BrowserOffer:
    """`python -m trayd.ui browser-offer`: 「ブラウザで USB トークンを使用しますか？」
    はい (0) → the agent registers OpenSC in the browsers' NSS databases; いいえ (6)."""

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        pass

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.dialogs.base import ask_yes_no
        from trayd.ui.tk_hook import install_test_hook
        from trayd.ui.tk_root import make_root

        root = make_root()
        root.withdraw()
        install_test_hook(root)
        try:
            yes = ask_yes_no(root, _("Do you want to use the USB token (ePass2003) in your web "
                                     "browsers? trayd registers the OpenSC module in the "
                                     "browsers' certificate databases."),
                             kind="question", default_yes=False, name="browser")
        finally:
            try:
                root.destroy()
            except Exception:  # noqa: BLE001 - already gone
                pass
        return YES if yes else NO


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (same as `python -m trayd.ui root-warning …`)."""
    import os

    from trayd import config, i18n
    from trayd.platform.display import has_display

    i18n.set_language(os.environ.get("TRAYD_LANGUAGE") or config.load().language)
    p = argparse.ArgumentParser(prog="root-warning")
    add_arguments(p)
    args = p.parse_args(argv)
    if not has_display():
        print("root-warning: no display", file=sys.stderr)
        return ERROR
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
