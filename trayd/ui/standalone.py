"""The commands of `python -m trayd.ui`: one dialog (or the management window) per process.

Why a withdrawn root: each dialog is the same Toplevel class the management window uses,
so the tray's 「ログイン…」 and the window's ログイン button show the very same dialog.
Token data needed before a dialog can open (the token's label, a certificate's DER) is
fetched on the worker while Tk keeps running (`Session.fetch`).
"""
from __future__ import annotations

import argparse
import logging
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import ttk
from typing import Any, TypeVar

from trayd import errors as E
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.i18n import _
from trayd.ui.tk_hook import hook_register, install_test_hook
from trayd.ui.tk_root import app_title, make_root
from trayd.ui.tk_worker import UiContext

log = logging.getLogger(__name__)
T = TypeVar("T")


class Session:
    """A withdrawn Tk root, the backend (agent or local), and the worker."""

    def __init__(self, need_backend: bool = True) -> None:
        self.root = make_root()
        self.root.withdraw()
        self.root.title(app_title())
        install_test_hook(self.root)
        backend = None
        if need_backend:
            from trayd import config
            from trayd.ipc.client import agent_or_local

            backend = agent_or_local(config.load())
        self.ctx = UiContext(self.root, backend)

    def fetch(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the worker, keep Tk responsive, return its result or raise."""
        done = tk.BooleanVar(self.root, value=False)
        box: dict[str, Any] = {}

        def ok(v: Any) -> None:
            box["v"] = v
            done.set(True)

        def err(e: BaseException) -> None:
            box["e"] = e
            done.set(True)

        self.ctx.worker.submit(fn, ok, err)
        self.root.wait_variable(done)
        if "e" in box:
            raise box["e"]
        return box["v"]

    def token(self, serial: str) -> TokenInfo:
        tokens = self.fetch(self.ctx.backend.list_tokens)
        for t in tokens:
            if t.serial == serial:
                return t
        raise E.NoSuchToken(serial=serial, present=len(tokens))

    def certificate(self, serial: str, cert_id: str) -> CertificateInfo:
        certs = self.fetch(lambda: self.ctx.backend.list_certificates(serial))
        for c in certs:
            if c.id.lower() == cert_id.lower():
                return c
        raise E.NoSuchCertificate(token_serial=serial, cert_id=cert_id)

    def close(self) -> None:
        self.ctx.close()
        if self.ctx.backend is not None:
            try:
                self.ctx.backend.close()
            except Exception:  # noqa: BLE001
                log.debug("backend close failed", exc_info=True)
        try:
            self.root.destroy()
        except tk.TclError:
            pass


def _run(body: Callable[[Session], int], need_backend: bool = True) -> int:
    """Run `body` in a session; typed errors become a message box and their exit code."""
    from trayd.ui.dialogs.errors import show_error

    s = Session(need_backend)
    try:
        return body(s)
    except E.TraydError as exc:
        show_error(s.root, exc)
        return exc.exit_code
    finally:
        s.close()


def _token_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--token", required=True, metavar="SERIAL", help="token serial number")


def _cert_args(p: argparse.ArgumentParser) -> None:
    _token_arg(p)
    p.add_argument("--id", required=True, metavar="HEX", help="certificate CKA_ID (hex)")


class Manage:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--export-dir", type=Path, default=None,
                       help="folder the export dialog starts in")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.manage_window import run

        return run(export_dir=args.export_dir)


class Login:
    add_arguments = staticmethod(_token_arg)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.dialogs.pin_dialog import ask_login

        def body(s: Session) -> int:
            t = s.token(args.token)
            if t.logged_in:
                return 0
            if t.locked:
                raise E.PinLocked(serial=t.serial)
            result = ask_login(s.ctx, s.root, t.serial, t.label, t)
            if isinstance(result, TokenInfo):
                return 0
            return 5 if result == "locked" else 6

        return _run(body)


class Logout:
    add_arguments = staticmethod(_token_arg)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        def body(s: Session) -> int:
            s.fetch(lambda: s.ctx.backend.logout(args.token))
            return 0

        return _run(body)


class TokenInformation:
    add_arguments = staticmethod(_token_arg)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.dialogs.base import Dialog
        from trayd.ui.manage_rows import token_rows

        def body(s: Session) -> int:
            t = s.token(args.token)
            d = Dialog(s.root, _("Token information"), "tokeninfo")
            frame = ttk.Frame(d, padding=14)
            frame.pack(fill="both", expand=True)
            for i, (k, v) in enumerate(token_rows(t)):
                ttk.Label(frame, text=k).grid(row=i, column=0, sticky="w", padx=(0, 16), pady=2)
                ttk.Label(frame, text=v).grid(row=i, column=1, sticky="w", pady=2)
            ok = ttk.Button(d, text="OK", width=10, command=d.cancel, default="active")
            ok.pack(side="right", padx=14, pady=(0, 12))
            hook_register("tokeninfo.ok", ok)
            d.bind("<Return>", lambda _e: d.cancel())
            d.show(ok)
            return 0

        return _run(body)


class Certificate:
    add_arguments = staticmethod(_cert_args)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.dialogs.cert_viewer import show_certificate

        def body(s: Session) -> int:
            c = s.certificate(args.token, args.id)
            der = s.fetch(lambda: s.ctx.backend.certificate_der(c.token_serial, c.id)) \
                if c.readable else None
            show_certificate(s.root, c, der)
            return 0

        return _run(body)


class Export:
    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        _cert_args(p)
        p.add_argument("--dir", type=Path, default=None, help="folder the dialog starts in")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.dialogs.export_dialog import export_certificate

        def body(s: Session) -> int:
            c = s.certificate(args.token, args.id)
            result: dict[str, Any] = {}
            done = tk.BooleanVar(s.root, value=False)

            def finished(path: Path | None) -> None:
                result["path"] = path
                done.set(True)

            export_certificate(s.ctx, s.root, c, args.dir, on_done=finished)
            if not done.get():
                s.root.wait_variable(done)
            return 0 if result.get("path") else 6

        return _run(body)


class ChangePin:
    add_arguments = staticmethod(_token_arg)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.dialogs.change_pin_dialog import ask_change_pin

        def body(s: Session) -> int:
            t = s.token(args.token)
            if t.locked:
                raise E.PinLocked(serial=t.serial)
            result = ask_change_pin(s.ctx, s.root, t.serial, t)
            if result is True:
                return 0
            return 5 if result == "locked" else 6

        return _run(body)


class ConfirmExit:
    """「終了してもよろしいですか？」: exit 0 for はい, 6 for いいえ (the tray asks this)."""

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.dialogs.confirm import confirm_exit

        return _run(lambda s: 0 if confirm_exit(s.root) else 6, need_backend=False)


class Message:
    """A plain message box: `message --kind info|warning|error [--title T] TEXT`."""

    @staticmethod
    def add_arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kind", choices=("info", "warning", "error"), default="info")
        p.add_argument("--title", default=None)
        p.add_argument("text")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from trayd.ui.dialogs.base import message

        def body(s: Session) -> int:
            message(s.root, args.text, args.title, args.kind)
            return 0

        return _run(body, need_backend=False)
