"""One language: the agent decides it once and every window, dialog and notification follows.

The real `trayd run` with its tray (XEmbed under trayer, on a bus with no SNI watcher),
the virtual ePass2003 and the recording notification server. Every kind of window the
agent can start is opened from the agent itself — the tray menu clicked over
com.canonical.dbusmenu (what an SNI host does), the root-certificate prompt on the first
insertion — under `LANG=C`, `ja_JP.UTF-8`, `en_US.UTF-8` and `language = "en"`, with no
`TRAYD_LANGUAGE` in the environment. Each window's X title (xdotool, so also Tk's own
save dialog) and the texts its test hook publishes must be in the agent's language; the
management window is opened several times, because the mix seen before was intermittent.
"""
from __future__ import annotations

import functools
import json
import re
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rig.agent_process import AgentProcess
from rig.sni import SniItem, owner_of_pid
from rig.tray_driver import wait_until
from rig.xserver import have_gui_tools

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(bool(have_gui_tools()), reason="GUI tools missing")]

PIN = "12345678"
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
MANAGE_REPEATS = 4

# (LANG, config text, the language every window must speak)
CASES = [
    ("C", None, "ja"),
    ("ja_JP.UTF-8", None, "ja"),
    ("en_US.UTF-8", None, "en"),
    ("ja_JP.UTF-8", 'language = "en"\n', "en"),
]


def _words(lang: str, msgid: str) -> str:
    """`msgid` in `lang` from the real catalogue (then back to Japanese for this process)."""
    from trayd import i18n

    i18n.set_language(lang)
    try:
        return i18n._(msgid)
    finally:
        i18n.set_language("ja")


def _speaks(text: str, lang: str) -> bool:
    return bool(CJK.search(text)) if lang == "ja" else not CJK.search(text)


# Data, not interface text: the test PKI's organisation (O=) is Japanese.
DATA = ("テスト株式会社",)


def _check(shown: list[str], lang: str) -> None:
    """The window title is in `lang`; in English nothing shown is Japanese."""
    assert shown and _speaks(shown[0], lang), shown
    if lang == "en":
        texts = [functools.reduce(lambda t, d: t.replace(d, ""), DATA, t) for t in shown]
        assert not any(CJK.search(t) for t in texts), shown


class Windows:
    """Open windows from the agent and read what they show."""

    def __init__(self, agent: AgentProcess, item: SniItem, hook: Path, env: dict) -> None:
        self.agent = agent
        self.item = item
        self.hook = hook
        self.env = env

    def pid_of(self, command: str, count: int) -> tuple[int, str]:
        pat = re.compile(r"launcher: started -m trayd\.ui " + re.escape(command)
                         + r"\b.*?\(pid (\d+), language (\w+)\)")

        def found():
            hits = pat.findall(self.agent.log_text())
            return hits[count - 1] if len(hits) >= count else None

        pid, lang = wait_until(found, 20, f"{command} started x{count}")
        return int(pid), lang

    def visible_names(self) -> set[str]:
        """Titles of the visible top-level windows (Tk sets no _NET_WM_PID to search by)."""
        out = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "."],
                             env=self.env, capture_output=True, text=True, timeout=10)
        names = set()
        for wid in out.stdout.split():
            name = subprocess.run(["xdotool", "getwindowname", wid], env=self.env,
                                  capture_output=True, text=True, timeout=10).stdout.strip()
            if name:
                names.add(name)
        return names

    def titles(self, before: set[str], what: str = "") -> list[str]:
        """The title(s) of the window(s) that appeared since `before`."""
        return sorted(wait_until(lambda: self.visible_names() - before, 30,
                                 f"a new visible window {what} (before: {before})"))

    def hook_texts(self, key_prefix: str) -> list[str]:
        def read():
            try:
                data = json.loads(self.hook.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            widgets = data.get("widgets", {})
            if not any(k.startswith(key_prefix) and v.get("viewable")
                       for k, v in widgets.items()):
                return None
            return [str(v.get("text") or v.get("title") or "") for v in widgets.values()]

        return [t for t in wait_until(read, 30, f"test hook with {key_prefix}*") if t]

    def close(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def open(self, path: tuple[str, ...], command: str, hook_key: str | None,
             lang: str) -> list[str]:
        """Click `path`, wait for `command`'s window; return its title(s) and texts."""
        count = self.agent.log_text().count(f"started -m trayd.ui {command}") + 1
        self.hook.unlink(missing_ok=True)
        before = self.visible_names()
        self.item.click(*path)
        pid, told = self.pid_of(command, count)
        assert told == lang, f"{command} started in {told}, the agent speaks {lang}"
        shown = self.titles(before, command)
        if hook_key:
            shown += self.hook_texts(hook_key)
        self.close(pid)
        self.agent.wait_log(f"trayd.ui {command}", count=2 * count, timeout=20)
        return shown


@pytest.mark.parametrize("lang_env,config,lang", CASES,
                         ids=["LANG_C", "ja_JP", "en_US", "config_en"])
def test_every_window_speaks_the_agents_language(
        lang_env, config, lang, gui_env, dbus_session, notification_server, tray_host,
        epass2003, tmp_path, artifacts):
    env = {**gui_env, **dbus_session.env}
    for var in ("TRAYD_LANGUAGE", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        env.pop(var, None)
    env["LANG"] = lang_env
    hook = tmp_path / "ui-hook.json"
    env["TRAYD_UI_TEST_HOOK"] = str(hook)
    if config:
        cfg = Path(env["XDG_CONFIG_HOME"]) / "trayd" / "config.toml"
        cfg.parent.mkdir(parents=True, exist_ok=True)
        cfg.write_text(config, encoding="utf-8")
    tok = epass2003(pin=PIN, insert=False)
    agent = AgentProcess(env, artifacts / f"language-{lang_env}-{lang}.log", "run", "-v")
    (artifacts / f"language-{lang_env}-{lang}.log").unlink(missing_ok=True)
    agent.start()
    try:
        agent.wait_log("tray: icon shown")
        item = SniItem(dbus_session.address, owner_of_pid(dbus_session.address, agent.pid))
        win = Windows(agent, item, hook, env)
        assert _speaks(str(item.prop("Title")), lang), item.prop("Title")

        # First insertion: the root prompt's セキュリティ警告, then the browser offer.
        before = win.visible_names()
        tok.insert()
        pid, told = win.pid_of("root-warning", 1)
        assert told == lang
        shown = win.hook_texts("root.yes")
        shown = win.titles(before | {t for t in win.visible_names() if tok.label in t}) + shown
        assert shown[0] == _words(lang, "Security Warning"), shown
        _check(shown, lang)
        before = win.visible_names()
        win.hook.unlink(missing_ok=True)
        win.close(pid)
        pid, told = win.pid_of("browser-offer", 1)
        assert told == lang
        shown = win.hook_texts("browser.no")
        shown = win.titles(before - {_words(lang, "Security Warning")}) + shown
        _check(shown, lang)
        win.close(pid)

        # The notifications are worded by the agent itself.
        notification_server.wait_for(1, timeout=20)

        label = wait_until(lambda: next((c.label for c in item.layout().children
                                         if c.label.startswith(tok.label)), None),
                           30, "the token in the menu")
        menu = item.layout()
        token_menu = menu.find(label)
        entries = [c.label for c in token_menu.children if c.label]
        assert all(_speaks(e, lang) for e in entries), entries
        cert_menu = token_menu.children[1]
        cert = cert_menu.children[0].label

        manage = _words(lang, "Open the management tool")
        expected_title = _words(lang, "ePass2003 Management Tool")
        if lang == "ja":
            assert expected_title != "ePass2003 Management Tool", "no Japanese catalogue"
        for _n in range(MANAGE_REPEATS):
            shown = win.open((manage,), "manage", "manage.window", lang)
            assert expected_title in shown, shown
            _check(shown, lang)
            assert {_words(lang, "Log in"), _words(lang, "Exit")} <= set(shown), shown

        windows = [
            ((label, token_menu.children[4].label), "login", "pin."),
            ((label, cert_menu.label, cert), "cert", "cert."),
            ((label, token_menu.children[2].label, cert), "export", None),
            ((label, token_menu.children[5].label), "change-pin", None),
            ((_words(lang, "Exit"),), "confirm-exit", "confirm."),
        ]
        for path, command, key in windows:
            shown = win.open(path, command, key, lang)
            _check(shown, lang)
        summaries = [n["summary"] for n in notification_server.notifications]
        assert summaries and all(_speaks(t, lang) for t in summaries), summaries
    finally:
        rc, _t = agent.stop()
    assert rc == 0
