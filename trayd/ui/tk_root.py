"""The Tk root every trayd window starts from: fonts, ttk style, Tk's own dialogs, icon.

Why one place: a window with Tk's default family shows no Japanese on a bare Debian (no CJK
glyphs), Tk's file dialogs speak the process locale unless told otherwise, and every
window should look the same. `make_root()` does all of it; `center()` places a Toplevel.

tkinter is imported here at module level, so only import this module where a display is
expected (the UI process), never from the CLI's import path.
"""
from __future__ import annotations

import logging
import os
import tkinter as tk
import tkinter.font as tkfont
from tkinter import ttk

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
