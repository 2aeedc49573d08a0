"""Certificate export (§4.4): save dialog (DER `.cer` by default, PEM on request), then
「エクスポート成功」.

Why the backend writes the file: `export_certificate` writes atomically and only ever the
certificate object's value — the private key never leaves the token (manual §4.4 ※).
Tk's save dialog already asked about overwriting, so the backend is told `force=True`.
"""
from __future__ import annotations

import re
import tkinter as tk
from pathlib import Path
from tkinter import filedialog

from trayd.core.models import CertificateInfo
from trayd.i18n import _
from trayd.ui.dialogs.base import ask_yes_no, message
from trayd.ui.dialogs.errors import show_error
from trayd.ui.tk_hook import hook_tcl
from trayd.ui.tk_worker import UiContext


def default_file_name(cert: CertificateInfo) -> str:
    """The certificate ID (ES…/FC…) when known, else the label; safe for any file system."""
    base = cert.certificate_id or cert.label or cert.id or "certificate"
    base = re.sub(r"[^\w.\-]+", "_", base).strip("._") or "certificate"
    return base + ".cer"


def format_for(path: Path, pem_chosen: bool) -> tuple[Path, str]:
    """The file and format: the PEM type when picked (a suggested `.cer` becomes `.pem`),
    else by the name typed (`.pem`/`.crt` → PEM), else DER."""
    suffix = path.suffix.lower()
    if pem_chosen:
        return (path.with_suffix(".pem") if suffix == ".cer" else path), "pem"
    if suffix in (".pem", ".crt"):
        return path, "pem"
    return path, "der"


def ask_export_path(parent: tk.Misc, cert: CertificateInfo,
                    initial_dir: Path | None = None) -> tuple[Path, str] | None:
    """Tk's save dialog (「保存」); returns (path, "der"|"pem") or None when cancelled."""
    # Tk appends the pattern itself: 「DER encoded binary X.509 (*.cer)」.
    der_type = _("DER encoded binary X.509")
    pem_type = _("Base 64 encoded X.509 (PEM)")
    type_var = tk.StringVar(parent, value=der_type)
    base = str(parent) if str(parent) != "." else ""
    for name, sub in (("entry", "contents.f2.ent"), ("save", "contents.f2.ok"),
                      ("cancel", "contents.f2.cancel"), ("window", "")):
        hook_tcl(f"filedialog.{name}", f"{base}.__tk_filedialog" + (f".{sub}" if sub else ""))
    filename = filedialog.asksaveasfilename(
        parent=parent, title=_("Export certificate"),
        initialdir=str(initial_dir or Path.home()), initialfile=default_file_name(cert),
        defaultextension=".cer", filetypes=[(der_type, "*.cer"), (pem_type, "*.pem")],
        typevariable=type_var, confirmoverwrite=True,
    )
    if not filename:
        return None
    path, fmt = format_for(Path(filename), type_var.get() == pem_type)
    if path != Path(filename) and path.exists() and not ask_yes_no(
            parent, _("{path} already exists.\nDo you want to replace it?").format(path=path),
            kind="warning", default_yes=False, name="overwrite"):
        return None
    return path, fmt


def export_certificate(ctx: UiContext, parent: tk.Misc, cert: CertificateInfo,
                       initial_dir: Path | None = None,
                       on_done: object = None) -> None:
    """Ask where, export on the worker, then say 「エクスポート成功」 (or why not)."""
    choice = ask_export_path(parent, cert, initial_dir)
    if choice is None:
        if callable(on_done):
            on_done(None)
        return
    path, fmt = choice
    backend = ctx.backend

    def ok(written: Path) -> None:
        message(parent, _("Export succeeded.") + "\n" + str(written or path),
                title=_("Export"), kind="info", name="exported")
        if callable(on_done):
            on_done(written or path)

    def failed(exc: BaseException) -> None:
        show_error(parent, exc)
        if callable(on_done):
            on_done(None)

    ctx.worker.submit(
        lambda: backend.export_certificate(cert.token_serial, cert.id, path, fmt=fmt,
                                           force=True),
        ok, failed)
