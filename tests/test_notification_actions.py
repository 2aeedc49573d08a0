"""Notification actions: 「管理ツールを開く」 and, before the first root install,
「ルート証明書をインストール…」 on the insert notification, where the server supports them.

The real `trayd run` with its tray (XEmbed under trayer: its GLib loop delivers
ActionInvoked), the virtual ePass2003, and the recording notification server, which
advertises "actions" and emits ActionInvoked to the agent's connection (unicast, as
notification-daemon does) when the test "clicks". A server without "actions" gets none.
A real notification-daemon draws the buttons: docs/screenshots/notification-actions.png.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from rig.agent_process import AgentProcess
from rig.tray_driver import wait_until
from rig.xserver import have_gui_tools, screenshot

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(bool(have_gui_tools()), reason="GUI tools missing")]

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ("manage", "管理ツールを開く")
ROOT_INSTALL = ("root-install", "ルート証明書をインストール…")


def _agent(env: dict[str, str], artifacts: Path, name: str, *args: str) -> AgentProcess:
    log = artifacts / f"actions-agent-{name}.log"
    log.unlink(missing_ok=True)
    agent = AgentProcess(env, log, "run", "-v", *args).start()
    if "--no-tray" not in args:
        agent.wait_log("tray: icon shown")
    return agent


def _pairs(note: dict) -> list[tuple[str, str]]:
    a = note["actions"]
    return list(zip(a[0::2], a[1::2]))


def _insert_notes(server, label: str) -> list[dict]:
    """The insert notification once it names the token (the in-place update)."""
    return server.wait_for(lambda ns: [n for n in ns if label in n["body"]
                                       and n["summary"] == "トークンが挿入されました。"],
                           timeout=30)


def _started(agent: AgentProcess, command: str, count: int = 1) -> int:
    pat = re.compile(r"launcher: started -m trayd\.ui " + re.escape(command)
                     + r"\b.*?\(pid (\d+),")
    hits = wait_until(lambda: (lambda h: h if len(h) >= count else None)(
        pat.findall(agent.log_text())), 20, f"{command} started x{count}")
    return int(hits[count - 1])


def _hook_widget(hook: Path, name: str, timeout: float = 30.0) -> dict:
    def find():
        try:
            w = json.loads(hook.read_text(encoding="utf-8")).get("widgets", {}).get(name)
        except (OSError, ValueError):
            return None
        return w if w and w.get("viewable") and not w.get("disabled") else None

    return wait_until(find, timeout, f"{name} on screen")


def _click(env: dict[str, str], w: dict) -> None:
    subprocess.run(["xdotool", "mousemove", str(w["x"] + w["w"] // 2),
                    str(w["y"] + w["h"] // 2), "click", "1"], env=env, check=True)


@pytest.fixture
def env(gui_env, dbus_session, tmp_path) -> dict[str, str]:
    e = {**gui_env, **dbus_session.env}
    e["TRAYD_UI_TEST_HOOK"] = str(tmp_path / "ui-hook.json")
    return e


def test_insert_notification_offers_and_runs_its_actions(
        env, dbus_session, notification_server_actions, tray_host, epass2003, artifacts):
    server = notification_server_actions
    hook = Path(env["TRAYD_UI_TEST_HOOK"])
    tok = epass2003(insert=False)
    agent = _agent(env, artifacts, "offer")
    try:
        tok.insert()
        note = _insert_notes(server, tok.label)[-1]
        assert _pairs(note) == [MANAGE, ROOT_INSTALL], note["actions"]
        # The root prompt's own first-insertion dialog: answer いいえ (declined).
        _click(env, _hook_widget(hook, "root.no"))
        _click(env, _hook_widget(hook, "browser.no"))
        agent.wait_log("dialog browser-offer answered")

        server.invoke(note["id"], "manage")
        pid = _started(agent, "manage")
        os.kill(pid, 15)

        # 「ルート証明書をインストール…」 asks again although it was declined; はい installs.
        hook.unlink(missing_ok=True)
        server.invoke(note["id"], "root-install")
        _started(agent, "root-warning", 2)
        _click(env, _hook_widget(hook, "root.yes"))
        server.wait_for(lambda ns: [n for n in ns
                                    if n["summary"] == "ルート証明書をインストールしました"],
                        timeout=60)

        # After the first root install only 管理ツールを開く is offered.
        server.clear()
        tok.remove()
        server.wait_for(lambda ns: [n for n in ns if "外されました" in n["summary"]])
        tok.insert()
        note = _insert_notes(server, tok.label)[-1]
        assert _pairs(note) == [MANAGE], note["actions"]

        # An action nobody offered (or an unknown id) changes nothing.
        server.invoke(note["id"] + 100, "manage")
        time.sleep(0.5)  # absence check
        assert agent.log_text().count("started -m trayd.ui manage") == 1
    finally:
        rc, _t = agent.stop()
    assert rc == 0


def test_no_actions_without_the_capability(env, dbus_session, notification_server, tray_host,
                                           epass2003, artifacts):
    tok = epass2003(insert=False)
    agent = _agent(env, artifacts, "no-capability")
    try:
        tok.insert()
        notes = _insert_notes(notification_server, tok.label)
        assert all(n["actions"] == [] for n in notification_server.notifications), notes
    finally:
        agent.stop()


def test_headless_agent_offers_none(trayd_env, dbus_session, notification_server_actions,
                                    epass2003, artifacts):
    """--no-tray: no GLib loop would deliver ActionInvoked, so nothing is offered."""
    tok = epass2003(insert=False)
    agent = _agent({**trayd_env, **dbus_session.env}, artifacts, "headless", "--no-tray")
    try:
        tok.insert()
        _insert_notes(notification_server_actions, tok.label)
        assert all(n["actions"] == [] for n in notification_server_actions.notifications)
    finally:
        agent.stop()


NOTIFICATION_DAEMON = "/usr/lib/notification-daemon/notification-daemon"


@pytest.mark.skipif(not os.path.exists(NOTIFICATION_DAEMON), reason="notification-daemon")
def test_screenshot_with_a_real_notification_daemon(env, dbus_session, tray_host, epass2003,
                                                    artifacts, tmp_path):
    daemon = subprocess.Popen([NOTIFICATION_DAEMON, "--replace"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    tok = epass2003(insert=False)
    cfg = Path(env["XDG_CONFIG_HOME"]) / "trayd" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("notification_timeout = 60\n", encoding="utf-8")
    agent = None
    try:
        time.sleep(1.0)
        agent = _agent(env, artifacts, "daemon")
        server = wait_until(lambda: re.search(r"notification server: (.*)", agent.log_text()),
                            10, "notification server found")[1]
        assert server.startswith("Notification Daemon") and "actions" in server, server
        tok.insert()
        # The root prompt's dialogs would cover the notification: close them.
        os.kill(_started(agent, "root-warning"), 15)
        os.kill(_started(agent, "browser-offer"), 15)
        agent.wait_log("dialog browser-offer answered")
        time.sleep(1.0)  # drawn
        shot = screenshot(env["DISPLAY"], artifacts / "notification-actions-full.png")
        from PIL import Image

        with Image.open(shot) as im:
            w, h = im.size
            (ROOT / "docs" / "screenshots").mkdir(parents=True, exist_ok=True)
            im.crop((w - 480, 0, w, 220)).save(ROOT / "docs" / "screenshots"
                                               / "notification-actions.png")
    finally:
        if agent is not None:
            agent.stop()
        daemon.terminate()
        daemon.wait(5)
