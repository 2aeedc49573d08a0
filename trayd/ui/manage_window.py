"""The management window (「ePass2003 管理ツール」, manual §4.1③, §4.2③, §4.3–§4.6).

Layout as in the vendor's tool: トークン一覧 top-left (tokens, and under each token its
certificates), the selected token's information bottom-left (after login, §4.2③), action
buttons on the right — ログイン/ログアウト, 証明書情報, エクスポート, ユーザ PIN 変更,
終了 — enabled by state (証明書情報 and エクスポート once a certificate is selected).

Why it refreshes by re-listing: insertion, removal and login changes arrive as events
(from the agent, or from our own PC/SC monitor without one); each schedules one
re-list on the worker, coalesced. With the agent the list is its token model
(`backend_access.token_listing`: the card is not asked), and the window keeps nothing
but what it shows.
"""
from __future__ import annotations

import logging
import tkinter as tk
from pathlib import Path
from tkinter import ttk
from typing import Any

from trayd import errors as E
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.events import Event
from trayd.files import FileLock
from trayd.i18n import _
from trayd.messages import describe
from trayd.ui.backend_access import token_listing, watch
from trayd.ui.dialogs.cert_viewer import show_certificate
from trayd.ui.dialogs.change_pin_dialog import ask_change_pin
from trayd.ui.dialogs.confirm import confirm_exit
from trayd.ui.dialogs.errors import show_error
from trayd.ui.dialogs.export_dialog import export_certificate
from trayd.ui.dialogs.pin_dialog import ask_login
from trayd.ui.manage_rows import cert_iid, cert_title, token_iid, token_rows
from trayd.ui.tk_hook import hook_info, hook_register, hook_tree
from trayd.ui.tk_root import app_title
from trayd.ui.tk_worker import UiContext, set_busy, set_enabled

log = logging.getLogger(__name__)


class ManageWindow:
    """The main window; owns the Tk root's content and the live refresh."""

    def __init__(self, ctx: UiContext, export_dir: Path | None = None) -> None:
        self.ctx = ctx
        self.root = ctx.root
        self.export_dir = export_dir
        self.tokens: dict[str, TokenInfo] = {}
        self.certs: dict[str, list[CertificateInfo]] = {}
        self._refreshing = False
        self._dirty = False
        self._refresh_after: str | None = None
        self._listed_once = False
        self._stop_watch: Any = None
        self._build()
        ctx.worker.on_busy(self._on_busy)
        self.root.protocol("WM_DELETE_WINDOW", self.exit)

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        root = self.root
        root.title(app_title())
        root.minsize(720, 560)
        self.status = ttk.Label(root, text="", style="Status.TLabel", padding=(10, 0, 10, 6),
                                anchor="w")
        self.status.pack(fill="x", side="bottom")
        outer = ttk.Frame(root, padding=(10, 10, 10, 4))
        outer.pack(fill="both", expand=True)
        left = ttk.Frame(outer)
        left.grid(row=0, column=0, sticky="nsew")
        right = ttk.Frame(outer, padding=(12, 0, 0, 0))
        right.grid(row=0, column=1, sticky="ns")
        outer.columnconfigure(0, weight=1)
        outer.rowconfigure(0, weight=1)

        list_box = ttk.LabelFrame(left, text=_("Token list"), padding=6)
        list_box.pack(fill="both", expand=True)
        self.tree = ttk.Treeview(list_box, show="tree", selectmode="browse", height=6)
        self.tree.column("#0", width=420)
        scroll = ttk.Scrollbar(list_box, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=scroll.set)
        self.tree.pack(side="left", fill="both", expand=True)
        scroll.pack(side="right", fill="y")
        self.tree.bind("<<TreeviewSelect>>", lambda _e: self._update_state())
        self.tree.bind("<Double-1>", self._double_click)
        hook_tree("manage.tree", self.tree)

        info_box = ttk.LabelFrame(left, text=_("Token information"), padding=6)
        info_box.pack(fill="both", expand=True, pady=(10, 0))
        self.info = ttk.Treeview(info_box, columns=("value",), show="tree", height=10,
                                 selectmode="none")
        self.info.column("#0", width=210, stretch=False)
        self.info.column("value", width=230, stretch=True)
        info_scroll = ttk.Scrollbar(info_box, orient="vertical", command=self.info.yview)
        self.info.configure(yscrollcommand=info_scroll.set)
        self.info.pack(side="left", fill="both", expand=True)
        info_scroll.pack(side="right", fill="y")
        self.info_hint = ttk.Label(info_box, text="", style="Hint.TLabel",
                                   wraplength=400, justify="left")
        info_box.bind("<Configure>", lambda e: self.info_hint.configure(
            wraplength=max(200, e.width - 40)), add="+")
        hook_tree("manage.info", self.info)
        hook_register("manage.info_hint", self.info_hint)

        b = {}
        for key, text, cmd in (
            ("login", _("Log in"), self.login_or_logout),
            ("cert", _("Certificate information"), self.show_cert),
            ("export", _("Export"), self.export),
            ("change_pin", _("Change user PIN"), self.change_pin),
        ):
            btn = ttk.Button(right, text=text, command=cmd, style="Action.TButton", width=20)
            btn.pack(fill="x", pady=(0, 8))
            hook_register(f"manage.{key}", btn)
            b[key] = btn
        ttk.Separator(right).pack(fill="x", pady=10)
        quit_btn = ttk.Button(right, text=_("Exit"), command=self.exit, style="Action.TButton",
                              width=20)
        quit_btn.pack(fill="x", side="bottom")
        hook_register("manage.exit", quit_btn)
        b["exit"] = quit_btn
        self.buttons = b

        hook_register("manage.status", self.status)
        hook_register("manage.window", root)
        self._update_state()

    # ---------------------------------------------------------------- selection/state
    def selected(self) -> tuple[TokenInfo | None, CertificateInfo | None]:
        sel = self.tree.selection()
        if not sel:
            return None, None
        iid = sel[0]
        if iid.startswith("t:"):
            return self.tokens.get(iid[2:]), None
        if iid.startswith("c:"):
            _c, serial, cid = iid.split(":", 2)
            cert = next((c for c in self.certs.get(serial, []) if c.id == cid), None)
            return self.tokens.get(serial), cert
        return None, None

    def _update_state(self) -> None:
        token, cert = self.selected()
        busy = self.ctx.worker.busy
        login = self.buttons["login"]
        login.configure(text=_("Log out") if token and token.logged_in else _("Log in"))
        set_enabled([login], bool(token) and not busy and not (token and token.locked
                                                                and not token.logged_in))
        set_enabled([self.buttons["cert"]], bool(cert) and not busy)
        set_enabled([self.buttons["export"]], bool(cert and cert.readable) and not busy)
        set_enabled([self.buttons["change_pin"]], bool(token and not token.locked) and not busy)
        self._show_info(token)
        hook_info("manage.selected", self.tree.selection()[0] if self.tree.selection() else None)

    def _show_info(self, token: TokenInfo | None) -> None:
        self.info.delete(*self.info.get_children())
        if token is None:
            hint = "" if self.tokens else describe(E.NoSuchToken())
        elif not token.logged_in:
            hint = _("Log in to show the token's information.")
        else:
            hint = ""
            for k, v in token_rows(token):
                self.info.insert("", "end", text=k, values=(v,))
        self.info_hint.configure(text=hint)
        if hint:
            self.info_hint.place(relx=0, rely=0, x=6, y=6)
        else:
            self.info_hint.place_forget()

    def _on_busy(self, busy: bool) -> None:
        set_busy(self.root, busy)
        if busy:
            self.status.configure(text=_("Working with the token…"))
        elif self.status.cget("text") == _("Working with the token…"):
            self.status.configure(text="")
        hook_info("busy", busy)
        self._update_state()

    # ---------------------------------------------------------------- refresh
    def start(self) -> None:
        """First listing, then live updates."""
        try:
            self._stop_watch = watch(self.ctx.backend, self._event_from_thread,
                                     on_lost=self._agent_lost)
        except E.TraydError as exc:
            log.warning("live updates unavailable: %s", describe(exc))
        self.refresh()

    def _event_from_thread(self, event: Event) -> None:
        self.ctx.worker.call_soon(lambda: self._on_event(event))

    def _agent_lost(self) -> None:
        self.ctx.worker.call_soon(lambda: self.status.configure(
            text=_("The trayd agent stopped; restart the management tool.")))

    def _on_event(self, event: Event) -> None:
        log.debug("event %s", type(event).__name__)
        hook_info("last_event", type(event).__name__)
        # Coalesce bursts (reader added + card inserted + token identified).
        if self._refresh_after is not None:
            self.root.after_cancel(self._refresh_after)
        self._refresh_after = self.root.after(250, self._refresh_now)

    def _refresh_now(self) -> None:
        self._refresh_after = None
        self.refresh()

    def refresh(self) -> None:
        if self._refreshing:
            self._dirty = True
            return
        self._refreshing = True
        backend = self.ctx.backend

        def done(result: tuple[list[TokenInfo], dict[str, list[CertificateInfo]]]) -> None:
            self._finish_refresh()
            self._apply(*result)
            self.status.configure(text="")

        def failed(exc: BaseException) -> None:
            self._finish_refresh()
            self._apply([], {})
            self.status.configure(text=describe(exc))

        # The first listing shows busy feedback; later ones (after events) run quietly.
        self.ctx.worker.submit(lambda: token_listing(backend), done, failed,
                               background=self._listed_once)
        self._listed_once = True

    def _finish_refresh(self) -> None:
        self._refreshing = False
        if self._dirty:
            self._dirty = False
            self.root.after(50, self.refresh)

    def _apply(self, tokens: list[TokenInfo], certs: dict[str, list[CertificateInfo]]) -> None:
        old_sel = self.tree.selection()
        keep = old_sel[0] if old_sel else None
        self.tokens = {t.serial: t for t in tokens}
        self.certs = certs
        self.tree.delete(*self.tree.get_children())
        for t in tokens:
            mark = " " + _("(locked)") if t.locked else ""
            text = f"{t.label} ({t.serial}){mark}" if t.label else t.serial
            self.tree.insert("", "end", iid=token_iid(t.serial), text=text, open=True)
            for c in certs.get(t.serial, []):
                self.tree.insert(token_iid(t.serial), "end", iid=cert_iid(t.serial, c.id),
                                 text=cert_title(c))
        if keep and self.tree.exists(keep):
            self.tree.selection_set(keep)
        elif tokens:
            self.tree.selection_set(token_iid(tokens[0].serial))
        hook_info("tokens", sorted(self.tokens))
        hook_info("logged_in", sorted(s for s, t in self.tokens.items() if t.logged_in))
        self._update_state()

    def _double_click(self, _e: tk.Event) -> None:
        _t, cert = self.selected()
        if cert is not None:
            self.show_cert()

    # ---------------------------------------------------------------- actions
    def _guard(self) -> bool:
        """One action at a time: a second click while the token works does nothing."""
        return not self.ctx.worker.busy

    def login_or_logout(self) -> None:
        token, _c = self.selected()
        if token is None or not self._guard():
            return
        if token.logged_in:
            backend, serial = self.ctx.backend, token.serial
            self.ctx.worker.submit(lambda: backend.logout(serial),
                                   lambda _r: self.refresh(),
                                   lambda exc: (show_error(self.root, exc), self.refresh()))
            return
        result = ask_login(self.ctx, self.root, token.serial, token.label, token)
        if isinstance(result, TokenInfo):
            self.tokens[result.serial] = result
            self._update_state()
        self.refresh()

    def show_cert(self) -> None:
        _t, cert = self.selected()
        if cert is None or not self._guard():
            return
        if not cert.readable:
            show_certificate(self.root, cert, None)
            return
        backend = self.ctx.backend
        self.ctx.worker.submit(lambda: backend.certificate_der(cert.token_serial, cert.id),
                               lambda der: show_certificate(self.root, cert, der),
                               lambda exc: show_error(self.root, exc))

    def export(self) -> None:
        _t, cert = self.selected()
        if cert is None or not self._guard():
            return
        export_certificate(self.ctx, self.root, cert, self.export_dir)

    def change_pin(self) -> None:
        token, _c = self.selected()
        if token is None or not self._guard():
            return
        ask_change_pin(self.ctx, self.root, token.serial, token)
        self.refresh()

    def exit(self) -> None:
        if confirm_exit(self.root):
            self.close()

    def close(self) -> None:
        if self._stop_watch is not None:
            try:
                self._stop_watch()
            except Exception:  # noqa: BLE001
                log.debug("stop watch failed", exc_info=True)
        self.root.quit()


def _single_instance() -> FileLock | None:
    """The held lock on `$XDG_RUNTIME_DIR/trayd/manage.lock`, or None if another window has it.

    Why: without an agent each window binds the token itself, and two bindings of one
    ePass2003 break each other's secure-messaging session; one window is also what the
    vendor's tool gives. The lock dies with the process, so a crash never leaves it held.
    """
    from trayd import paths

    lock = FileLock(paths.runtime_dir() / "manage.lock")
    return lock if lock.acquire(wait=False) else None


def run(backend: Any = None, export_dir: Path | None = None) -> int:
    """Open the window and run Tk's loop until 終了 is confirmed."""
    from trayd.ipc.client import agent_or_local
    from trayd.ui.tk_hook import install_test_hook
    from trayd.ui.tk_root import make_root

    lock = _single_instance()
    root = make_root()
    install_test_hook(root)
    if lock is None:
        from trayd.ui.dialogs.base import message

        root.withdraw()
        message(root, _("The management tool is already open."), kind="info", name="already")
        root.destroy()
        return 0
    if backend is None:
        from trayd import config

        backend = agent_or_local(config.load())
    ctx = UiContext(root, backend)
    win = ManageWindow(ctx, export_dir)
    root.geometry("800x660")
    root.after(10, win.start)
    try:
        root.mainloop()
    finally:
        ctx.close()
        try:
            backend.close()
        except Exception:  # noqa: BLE001
            log.debug("backend close failed", exc_info=True)
        try:
            root.destroy()
        except tk.TclError:
            pass
    return 0
