"""Shared Tk plumbing for the management window and every dialog.

Why one module: every window needs the same four things, and getting any of them wrong
shows up as a frozen or unreadable window:
- fonts that render Japanese (Tk's default family has no CJK glyphs on a bare Debian),
- one worker thread for slow token work (binding an ePass2003 takes over a second; the
  Tk thread must keep painting), with results handed back through `root.after` polling,
- busy feedback while that work runs (watch cursor, status text, buttons disabled),
- an optional test hook (`TRAYD_UI_TEST_HOOK=<file>`) that publishes widget geometry and
  state as JSON so GUI tests can click the right pixel. It never publishes entry text.

tkinter is imported here at module level, so only import this module where a display is
expected (the UI process), never from the CLI's import path.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable
from pathlib import Path
from tkinter import ttk
from typing import Any

from trayd.i18n import _, current_language

log = logging.getLogger(__name__)

APP_TITLE_MSGID = "ePass2003 Management Tool"

# Families tried in order; the first one Tk knows wins. Noto Sans CJK JP comes with
# fonts-noto-cjk (declared in packaging/apt-packages.txt).
CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans JP", "IPAGothic", "IPAexGothic",
                "TakaoGothic", "VL Gothic", "Droid Sans Fallback", "DejaVu Sans")
MONO_FAMILIES = ("Noto Sans Mono CJK JP", "Noto Mono", "DejaVu Sans Mono")


def app_title() -> str:
    return _(APP_TITLE_MSGID)


# --------------------------------------------------------------------------- fonts, style

def _pick(families: tuple[str, ...], available: set[str]) -> str | None:
    for fam in families:
        if fam in available:
            return fam
    return None


def setup_root(root: tk.Tk) -> None:
    """Fonts with Japanese glyphs, a consistent ttk theme, Tk's own dialogs in Japanese."""
    available = set(tkfont.families(root))
    family = _pick(CJK_FAMILIES, available)
    mono = _pick(MONO_FAMILIES, available) or family
    size = int(os.environ.get("TRAYD_UI_FONT_SIZE", "10") or 10)
    if family:
        for name in ("TkDefaultFont", "TkTextFont", "TkMenuFont", "TkHeadingFont",
                     "TkCaptionFont", "TkSmallCaptionFont", "TkIconFont", "TkTooltipFont"):
            try:
                f = tkfont.nametofont(name, root=root)
            except tk.TclError:
                continue
            f.configure(family=family, size=size if name != "TkSmallCaptionFont" else size - 1)
        tkfont.nametofont("TkHeadingFont", root=root).configure(weight="bold")
        tkfont.nametofont("TkCaptionFont", root=root).configure(weight="bold", size=size + 1)
    if mono:
        try:
            tkfont.nametofont("TkFixedFont", root=root).configure(family=mono, size=size)
        except tk.TclError:
            pass
    style = ttk.Style(root)
    if "clam" in style.theme_names():
        style.theme_use("clam")
    row_h = tkfont.nametofont("TkDefaultFont", root=root).metrics("linespace") + 6
    style.configure("Treeview", rowheight=row_h)
    style.configure("Heading.TLabel", font="TkCaptionFont")
    style.configure("Status.TLabel", foreground="#444444")
    style.configure("Error.TLabel", foreground="#b00020")
    style.configure("Hint.TLabel", foreground="#555555", background="#ffffff")
    style.configure("Key.TButton", padding=(2, 2), width=0)
    style.map("Key.TButton", background=[("selected", "#9ec5fe"), ("active", "#e8e8e8")])
    style.configure("Action.TButton", padding=(10, 6))
    root.option_add("*Dialog.msg.font", "TkDefaultFont")
    if current_language() == "ja":
        _japanese_tk_dialogs(root)
    else:
        # Tk's own dialogs follow the process locale otherwise (LANG=de_DE → German
        # buttons under language = "en"): the window's language decides.
        try:
            root.tk.call("package", "require", "msgcat")
            root.tk.call("::msgcat::mclocale", current_language())
        except tk.TclError as exc:  # pragma: no cover - msgcat is part of Tcl
            log.debug("msgcat unavailable: %s", exc)


_TK_JA = {
    "&Save": "保存(&S)", "&Open": "開く(&O)", "&Cancel": "キャンセル(&C)", "Cancel": "キャンセル",
    "&OK": "OK", "OK": "OK", "&Yes": "はい(&Y)", "&No": "いいえ(&N)",
    "Save As": "名前を付けて保存", "Open": "開く", "&Directory:": "フォルダー(&D):",
    "File &name:": "ファイル名(&N):", "File &names:": "ファイル名(&N):",
    "Files of &type:": "ファイルの種類(&T):", "&Selection:": "選択(&S):",
    "Show &Hidden Files and Directories": "隠しファイルを表示(&H)",
    "Show &Hidden Directories": "隠しフォルダーを表示(&H)", "All Files": "すべてのファイル",
    "File \"%1$s\" already exists.\nDo you want to overwrite it?":
        "ファイル \"%1$s\" は既に存在します。\n上書きしますか？",
    "Directory \"%1$s\" does not exist.": "フォルダー \"%1$s\" は存在しません。",
    "Invalid file name \"%1$s\".": "ファイル名 \"%1$s\" は無効です。",
    "Cannot change to the directory \"%1$s\".\nPermission denied.":
        "フォルダー \"%1$s\" に移動できません。\nアクセスが拒否されました。",
    "File \"%1$s\" does not exist.": "ファイル \"%1$s\" は存在しません。",
}


def _japanese_tk_dialogs(root: tk.Tk) -> None:
    """Tk ships no Japanese message catalogue; the save dialog must say 「保存」 (§4.4③)."""
    try:
        root.tk.call("package", "require", "msgcat")
        for src, dst in _TK_JA.items():
            root.tk.call("namespace", "eval", "::tk", ["::msgcat::mcset", "ja", src, dst])
        root.tk.call("::msgcat::mclocale", "ja")
    except tk.TclError as exc:  # pragma: no cover - msgcat is part of Tcl
        log.debug("msgcat unavailable: %s", exc)


def make_root() -> tk.Tk:
    """A Tk root with trayd's fonts and style; class name for window managers / WM_CLASS."""
    root = tk.Tk(className="trayd")
    scale = os.environ.get("GDK_SCALE", "")
    if scale.isdigit() and int(scale) > 1:  # HiDPI desktops: follow GTK's integer scale
        root.tk.call("tk", "scaling", float(root.tk.call("tk", "scaling")) * int(scale))
    setup_root(root)
    _window_icon(root)
    return root


def _window_icon(root: tk.Tk) -> None:
    """The tray's token icon for every window (title bars, task switcher)."""
    try:
        from PIL import ImageTk

        from trayd.icons import render_icon

        images = [ImageTk.PhotoImage(render_icon("present", s), master=root) for s in (64, 32)]
        root.iconphoto(True, *images)
        root._trayd_icons = images  # type: ignore[attr-defined]  # keep them alive
    except Exception as exc:  # noqa: BLE001 - a missing icon never stops a window
        log.debug("window icon unavailable: %s", exc)


def center(win: tk.Misc, parent: tk.Misc | None = None) -> None:
    """Place `win` over its parent (or the screen centre) once its size is known."""
    win.update_idletasks()
    w, h = win.winfo_reqwidth(), win.winfo_reqheight()
    if parent is not None and parent.winfo_viewable():
        px, py = parent.winfo_rootx(), parent.winfo_rooty()
        pw, ph = parent.winfo_width(), parent.winfo_height()
        x, y = px + (pw - w) // 2, py + (ph - h) // 3
    else:
        x = (win.winfo_screenwidth() - w) // 2
        y = (win.winfo_screenheight() - h) // 3
    win.geometry(f"+{max(0, x)}+{max(0, y)}")


# --------------------------------------------------------------------------- worker

class BackendWorker:
    """Runs token calls on one background thread; results come back on the Tk thread.

    Why one thread: calls are serialised (the backend's own PKCS#11 worker would
    serialise them anyway) and a result can never overtake an earlier one. The Tk side
    polls a queue with `after`, because Tk must only be touched from its own thread.
    """

    POLL_MS = 40

    def __init__(self, root: tk.Misc) -> None:
        self.root = root
        self._jobs: queue.Queue[tuple[Callable[[], Any], Callable[[Any], None] | None,
                                      Callable[[BaseException], None] | None, bool] | None] = (
            queue.Queue())
        self._results: queue.Queue[Callable[[], None]] = queue.Queue()
        self._pending = 0
        self._busy_listeners: list[Callable[[bool], None]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="trayd-ui-worker", daemon=True)
        self._thread.start()
        self._after_id: str | None = None
        self._poll()

    @property
    def busy(self) -> bool:
        return self._pending > 0

    def on_busy(self, listener: Callable[[bool], None]) -> None:
        self._busy_listeners.append(listener)

    def submit(self, fn: Callable[[], Any], on_ok: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None,
               background: bool = False) -> None:
        """Run `fn()` off the Tk thread; then `on_ok(result)` or `on_error(exc)` on it.

        `background=True` (a re-list after an event) shows no busy feedback and blocks no
        button: a user's click during a refresh must not be swallowed; it simply queues.
        """
        if self._closed:
            return
        if not background:
            self._pending += 1
            if self._pending == 1:
                self._notify_busy(True)
        self._jobs.put((fn, on_ok, on_error, background))

    def call_soon(self, fn: Callable[[], None]) -> None:
        """From any thread: run `fn` on the Tk thread (used by event subscriptions)."""
        self._results.put(fn)

    def _notify_busy(self, busy: bool) -> None:
        for listener in list(self._busy_listeners):
            try:
                listener(busy)
            except tk.TclError:
                pass

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, on_ok, on_error, background = job
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the UI, never swallowed
                if not isinstance(exc, Exception):
                    log.debug("worker job raised %s", type(exc).__name__)
                self._results.put(self._finish(on_error, exc, True, background))
            else:
                self._results.put(self._finish(on_ok, result, False, background))

    def _finish(self, cb: Callable[[Any], None] | None, value: Any,
                failed: bool, background: bool) -> Callable[[], None]:
        def done() -> None:
            if not background:
                self._pending -= 1
                if self._pending == 0:
                    self._notify_busy(False)
            if cb is not None:
                cb(value)
            elif failed:
                log.error("background call failed: %s", type(value).__name__)
        return done

    def _poll(self) -> None:
        try:
            while True:
                fn = self._results.get_nowait()
                try:
                    fn()
                except Exception:  # noqa: BLE001 - one broken callback must not stop polling
                    log.exception("UI callback failed")
        except queue.Empty:
            pass
        if not self._closed:
            try:
                self._after_id = self.root.after(self.POLL_MS, self._poll)
            except tk.TclError:
                pass

    def close(self) -> None:
        self._closed = True
        self._jobs.put(None)


# --------------------------------------------------------------------------- busy

def set_busy(win: tk.Misc, busy: bool) -> None:
    """Watch cursor on `win` and all its descendants' toplevels while token work runs."""
    cursor = "watch" if busy else ""
    try:
        win.configure(cursor=cursor)  # type: ignore[call-arg]
    except tk.TclError:
        pass


def set_enabled(widgets: list[tk.Misc], enabled: bool) -> None:
    for w in widgets:
        try:
            if isinstance(w, ttk.Widget):
                w.state(["!disabled"] if enabled else ["disabled"])
            else:
                w.configure(state="normal" if enabled else "disabled")  # type: ignore[call-arg]
        except tk.TclError:
            pass


# --------------------------------------------------------------------------- test hook

class TestHook:
    """Publishes widget geometry/state for GUI tests to `$TRAYD_UI_TEST_HOOK` (a file).

    The file is rewritten atomically whenever its content changes (checked every 150 ms).
    It lists registered widgets by logical name (e.g. ``manage.login``, ``pin.ok``,
    ``kb.key.1``) with root-relative geometry, state, label text and whether they are
    mapped, plus Treeview row boxes and visible messages. Entry contents are never
    published: a PIN must not reach a file, not even in a test.
    """

    INTERVAL_MS = 150

    def __init__(self, root: tk.Misc, path: Path) -> None:
        self.root = root
        self.path = path
        self.widgets: dict[str, tk.Misc] = {}
        self.trees: dict[str, ttk.Treeview] = {}
        self.tcl_paths: dict[str, str] = {}
        self.info: dict[str, Any] = {}
        self._last = ""
        self._seq = 0
        self.root.after(self.INTERVAL_MS, self._tick)

    def register(self, name: str, widget: tk.Misc) -> None:
        self.widgets[name] = widget

    def register_tree(self, name: str, tree: ttk.Treeview) -> None:
        self.trees[name] = tree

    def set_info(self, key: str, value: Any) -> None:
        self.info[key] = value

    def _geom(self, w: tk.Misc) -> dict[str, Any] | None:
        try:
            if not w.winfo_exists():
                return None
            d: dict[str, Any] = {
                "x": w.winfo_rootx(), "y": w.winfo_rooty(),
                "w": w.winfo_width(), "h": w.winfo_height(),
                "viewable": bool(w.winfo_viewable()),
            }
            if isinstance(w, ttk.Widget):
                d["disabled"] = "disabled" in w.state()
                if "selected" in w.state():
                    d["selected"] = True
            else:
                try:
                    d["disabled"] = str(w.cget("state")) == "disabled"
                except tk.TclError:
                    pass
            if not isinstance(w, (tk.Entry, ttk.Entry, tk.Text)):
                try:
                    d["text"] = str(w.cget("text"))
                except tk.TclError:
                    pass
            if isinstance(w, (tk.Tk, tk.Toplevel)):
                d["title"] = w.title()  # type: ignore[union-attr]
            return d
        except tk.TclError:
            return None

    def _tcl_geom(self, path: str) -> dict[str, Any] | None:
        """Geometry of a widget Tk created by itself (e.g. inside tk_getSaveFile)."""
        call = self.root.tk.call
        try:
            if not int(call("winfo", "exists", path)):
                return None
            return {"x": int(call("winfo", "rootx", path)), "y": int(call("winfo", "rooty", path)),
                    "w": int(call("winfo", "width", path)), "h": int(call("winfo", "height", path)),
                    "viewable": bool(int(call("winfo", "viewable", path)))}
        except tk.TclError:
            return None

    def _tree(self, t: ttk.Treeview) -> dict[str, Any] | None:
        try:
            if not t.winfo_exists():
                return None
            rows = []

            def walk(parent: str) -> None:
                for iid in t.get_children(parent):
                    box = t.bbox(iid)
                    rows.append({
                        "iid": iid, "text": t.item(iid, "text"), "parent": parent,
                        "values": [str(v) for v in t.item(iid, "values")],
                        "box": [t.winfo_rootx() + box[0], t.winfo_rooty() + box[1],
                                box[2], box[3]] if box else None,
                    })
                    walk(iid)

            walk("")
            return {"rows": rows, "selection": list(t.selection()), **(self._geom(t) or {})}
        except tk.TclError:
            return None

    def snapshot(self) -> dict[str, Any]:
        widgets = {}
        for name, w in list(self.widgets.items()):
            g = self._geom(w)
            if g is None:
                del self.widgets[name]
            else:
                widgets[name] = g
        for name, path in self.tcl_paths.items():
            g = self._tcl_geom(path)
            if g is not None:
                widgets[name] = g
        trees = {}
        for name, t in list(self.trees.items()):
            g = self._tree(t)
            if g is None:
                del self.trees[name]
            else:
                trees[name] = g
        # A heartbeat from the Tk thread: tests see that the window never freezes while
        # the token works (it changes twice a second only if Tk's loop is running).
        return {"widgets": widgets, "trees": trees, "info": dict(self.info),
                "heartbeat": int(time.monotonic() * 2)}

    def _tick(self) -> None:
        try:
            snap = self.snapshot()
            text = json.dumps(snap, ensure_ascii=False, sort_keys=True)
            if text != self._last:
                self._last = text
                self._seq += 1
                snap["seq"] = self._seq
                snap["time"] = time.time()
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text(json.dumps(snap, ensure_ascii=False), encoding="utf-8")
                os.replace(tmp, self.path)
        except (OSError, tk.TclError) as exc:
            log.debug("test hook: %s", exc)
        try:
            self.root.after(self.INTERVAL_MS, self._tick)
        except tk.TclError:
            pass


_hook: TestHook | None = None


def install_test_hook(root: tk.Misc) -> TestHook | None:
    global _hook
    path = os.environ.get("TRAYD_UI_TEST_HOOK")
    if path and _hook is None:
        _hook = TestHook(root, Path(path))
    return _hook


def hook_register(name: str, widget: tk.Misc) -> None:
    """Name a widget for GUI tests (no-op unless the test hook is on)."""
    if _hook is not None:
        _hook.register(name, widget)


def hook_tree(name: str, tree: ttk.Treeview) -> None:
    if _hook is not None:
        _hook.register_tree(name, tree)


def hook_info(key: str, value: Any) -> None:
    if _hook is not None:
        _hook.set_info(key, value)


# --------------------------------------------------------------------------- context

class UiContext:
    """What every window needs: the Tk root, the token backend, the worker thread."""

    def __init__(self, root: tk.Tk, backend: Any) -> None:
        self.root = root
        self.backend = backend
        self.worker = BackendWorker(root)

    def close(self) -> None:
        self.worker.close()


def hook_tcl(name: str, path: str) -> None:
    """Name a Tk-internal widget by its Tcl path (no-op unless the test hook is on)."""
    if _hook is not None:
        _hook.tcl_paths[name] = path
