"""The GUI test hook: widget geometry and state as JSON in `$TRAYD_UI_TEST_HOOK`.

Why: GUI tests click real pixels with xdotool, so they need to know where each button,
tree row and message is, and whether the Tk loop still runs (a heartbeat). Windows name
their widgets with `hook_register`/`hook_tree`/`hook_tcl`/`hook_info`; all of these do
nothing unless the environment variable is set. Entry text is never published.
"""
from __future__ import annotations

import json
import logging
import os
import time
import tkinter as tk
from pathlib import Path
from tkinter import ttk
from typing import Any

log = logging.getLogger(__name__)


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


def hook_tcl(name: str, path: str) -> None:
    """Name a Tk-internal widget by its Tcl path (no-op unless the test hook is on)."""
    if _hook is not None:
        _hook.tcl_paths[name] = path
