"""The tray icon of the real agent under Xvfb + trayer, with the virtual ePass2003.

What a user sees: the icon docks; it changes when the token is inserted, logged in and
pulled; a right click opens the menu, whose entries name the inserted token and start
the dialogs; 終了 asks 「終了してもよろしいですか？」 first; signals stop the agent fast
even while GTK owns its main thread; without any tray the agent says so once and keeps
running. Screenshots go to tests/_artifacts/tray-*.png.
"""
from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from rig.agent_process import AgentProcess
from rig.timing import GROSS_HANG_S
from rig.tray_driver import TrayDriver, wait_until
from rig.xserver import have_gui_tools

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(bool(have_gui_tools()), reason="GUI tools missing")]

PIN = "73915820"  # distinctive: must not occur in certificate IDs or serials


def _start_agent(env: dict[str, str], log: Path, *args: str) -> AgentProcess:
    log.unlink(missing_ok=True)
    agent = AgentProcess(env, log, "run", "-v", *args)
    return agent.start()


@pytest.fixture
def desktop_env(gui_env, dbus_session, notification_server, tmp_path) -> dict[str, str]:
    env = {**gui_env, **dbus_session.env}
    env["TRAYD_UI_TEST_HOOK"] = str(tmp_path / "ui-hook.json")
    env.pop("TRAYD_TRAY_BACKEND", None)
    return env


@pytest.fixture
def tray_agent(desktop_env, tray_host, artifacts, request):
    agent = _start_agent(desktop_env, artifacts / f"tray-agent-{request.node.name}.log")
    agent.wait_log("tray: icon shown")
    yield agent
    if agent.alive():
        agent.stop()


@pytest.fixture
def driver(xdisplay, artifacts, desktop_env) -> TrayDriver:
    return TrayDriver(xdisplay, artifacts, desktop_env)


def _menu_lines(agent: AgentProcess) -> list[str]:
    return re.findall(r"tray: icon=(\w+) tooltip=(.*?) menu=(\[.*\])", agent.log_text())


def _wait_menu_with(agent: AgentProcess, text: str, timeout: float = 30.0) -> None:
    wait_until(lambda: any(text in m[2] for m in _menu_lines(agent)), timeout,
               f"tray menu containing {text!r}")


def test_icon_docks_with_appindicator_and_follows_the_token(tray_agent, driver, epass2003):
    log = tray_agent.log_text()
    assert "tray: backend appindicator" in log
    icon = driver.icon_window()
    assert 16 <= icon.w <= 64 and 16 <= icon.h <= 64
    driver.wait_icon("none")
    driver.snap("tray-1-no-token")
    # Hovering shows the state as a tooltip (a popup window of the agent near the icon).
    tip = driver.hover_tooltip()
    assert abs(tip.y - (icon.y + icon.h)) < 60
    driver.snap("tray-1b-tooltip")
    driver.xdotool("mousemove", "600", "400")
    wait_until(lambda: not driver.popups(), 10, "tooltip hidden")

    tok = epass2003(pin=PIN)  # inserted
    driver.wait_icon("present")
    _wait_menu_with(tray_agent, tok.label)
    driver.snap("tray-2-token-present")

    from trayd.ipc.client import connect

    client = connect(timeout=2)
    assert client is not None, "the agent's socket did not answer"
    with client:
        serial = wait_until(lambda: [t.serial for t in client.list_tokens()], 20,
                            "token listed by the agent")[0]
        client.login(serial, PIN)
        driver.wait_icon("logged_in")
        driver.snap("tray-3-logged-in")
        _wait_menu_with(tray_agent, "ログアウト")

    tok.remove()
    driver.wait_icon("none")
    driver.snap("tray-4-removed")


def test_menu_names_the_token_and_starts_its_dialogs(tray_agent, driver, epass2003):
    tok = epass2003()
    _wait_menu_with(tray_agent, "ログイン…")
    driver.choose(("Down", "Right"), lambda: len(driver.popups()) >= 2,
                  "token submenu opened")
    driver.snap("tray-5-menu-token-submenu")
    # What the menu held when it was opened (the agent logs each rebuilt menu).
    texts = _menu_lines(tray_agent)[-1][2]
    for label in (tok.label, "トークン情報", "証明書情報", "エクスポート…", "ログイン…",
                  "ユーザ PIN 変更…", "管理ツールを開く", "終了"):
        assert f"'{label}'" in texts, texts
    # The submenu opens with 証明書情報 selected (トークン情報 is insensitive before a
    # login); Down, Down reaches ログイン….
    driver.keys("Down", "Down", "Return")
    tray_agent.wait_log("launcher: started -m trayd.ui login --token", timeout=10)
    serial = re.search(r"launcher: started -m trayd\.ui login --token ([0-9A-Fa-f]+)",
                       tray_agent.log_text())[1]
    # 証明書情報 → the first certificate opens the certificate viewer for that object.
    driver.choose(("Down", "Right", "Right", "Return"),
                  lambda: f"launcher: started -m trayd.ui cert --token {serial} --id"
                  in tray_agent.log_text(), "certificate viewer started")


def test_exit_asks_first(tray_agent, driver, desktop_env):
    hook = Path(desktop_env["TRAYD_UI_TEST_HOOK"])

    def ask_exit():
        hook.unlink(missing_ok=True)
        starts = tray_agent.log_text().count("started -m trayd.ui confirm-exit")
        # Up from nothing selected = the last entry, 終了.
        driver.choose(("Up", "Return"), lambda: tray_agent.log_text().count(
            "started -m trayd.ui confirm-exit") > starts, "confirm-exit started")

        def buttons():
            try:
                data = json.loads(hook.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            w = data.get("widgets", {})
            yes = next((v for k, v in w.items() if k.endswith(".yes") and v.get("viewable")),
                       None)
            no = next((v for k, v in w.items() if k.endswith(".no") and v.get("viewable")),
                      None)
            return (yes, no) if yes and no else None

        return wait_until(buttons, 20, "the exit confirmation with はい/いいえ")

    yes, no = ask_exit()
    driver.snap("tray-7-confirm-exit")
    assert yes["text"] == "はい" and no["text"] == "いいえ"
    driver.xdotool("mousemove", str(no["x"] + no["w"] // 2), str(no["y"] + no["h"] // 2),
                   "click", "1")
    tray_agent.wait_log("confirm-exit exited with 6", timeout=10)

    # The next menu and dialog come from the same agent: いいえ did not stop it.
    yes, _no = ask_exit()
    assert tray_agent.alive() and "exit confirmed" not in tray_agent.log_text()
    t0 = time.monotonic()
    driver.xdotool("mousemove", str(yes["x"] + yes["w"] // 2), str(yes["y"] + yes["h"] // 2),
                   "click", "1")
    rc = tray_agent.proc.wait(10)
    assert rc == 0
    assert "tray: exit confirmed" in tray_agent.log_text()
    assert time.monotonic() - t0 < 5
    from trayd import paths

    assert not paths.agent_socket().exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_agent_while_gtk_runs(tray_agent, driver, sig):
    driver.icon_window()
    rc, elapsed = tray_agent.stop(sig)
    assert rc == 0, tray_agent.log_text()[-2000:]
    assert elapsed < GROSS_HANG_S, f"stopping took {elapsed:.2f}s"
    assert "trayd agent stopped" in tray_agent.log_text()


def test_without_a_tray_host_the_agent_says_so_once(desktop_env, notification_server,
                                                    artifacts):
    agent = _start_agent(desktop_env, artifacts / "tray-agent-no-host.log")
    try:
        notes = notification_server.wait_for(
            lambda ns: [n for n in ns if n["summary"] == "システムトレイが見つかりません。"])
        assert len(notes) == 1
        assert "trayd manage" in notes[0]["body"]
        from trayd.ipc.client import agent_running

        assert agent_running(timeout=2)
        assert agent.alive()
    finally:
        rc, _elapsed = agent.stop()
    assert rc == 0


def test_without_a_display_the_agent_runs_headless(trayd_env, dbus_session, notification_server,
                                                   artifacts):
    env = {**trayd_env, **dbus_session.env}
    env.pop("DISPLAY", None)
    agent = _start_agent(env, artifacts / "tray-agent-no-display.log")
    try:
        notification_server.wait_for(
            lambda ns: [n for n in ns if n["summary"] == "トレイアイコンを表示できません。"])
        agent.wait_log("running without one")
        assert agent.alive()
    finally:
        rc, elapsed = agent.stop()
    assert rc == 0 and elapsed < GROSS_HANG_S


def test_a_hung_or_crashed_dialog_cannot_take_the_agent_down(tray_agent, driver):
    def open_confirm() -> int:
        def pids() -> list[str]:
            return re.findall(r"launcher: started -m trayd\.ui confirm-exit \(pid (\d+),",
                              tray_agent.log_text())

        before = len(pids())
        driver.choose(("Up", "Return"), lambda: len(pids()) > before, "confirm-exit started")
        return int(pids()[-1])

    # Crashed: the agent notes it and carries on.
    pid = open_confirm()
    os.kill(pid, signal.SIGKILL)
    tray_agent.wait_log("confirm-exit exited with -9", timeout=10)
    assert tray_agent.alive()

    # Hung (stopped, never answers): the tray still opens its menu, and the agent still
    # stops within a second, taking the hung child with it.
    pid = open_confirm()
    os.kill(pid, signal.SIGSTOP)
    driver.open_menu()
    driver.snap("tray-8-menu-while-a-dialog-hangs")
    driver.close_menus()
    rc, elapsed = tray_agent.stop(signal.SIGTERM)
    assert rc == 0 and elapsed < GROSS_HANG_S, f"rc={rc} elapsed={elapsed:.2f}s"
    wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
               open(f"/proc/{pid}/stat").read().split()[2] == "Z", 5, "hung dialog ended")


def _hook_widget(hook: Path, name: str, timeout: float = 30.0) -> dict:
    def find():
        try:
            data = json.loads(hook.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        w = data.get("widgets", {}).get(name)
        return w if w and w.get("viewable") and not w.get("disabled") else None

    return wait_until(find, timeout, f"{name} on screen")


def test_login_and_logout_from_the_tray_menu(tray_agent, driver, epass2003, desktop_env):
    """The user's path: ログイン… → PIN dialog (PIN goes to the agent's worker) → the icon
    gets its check badge and the menu offers ログアウト → ログアウト → back to blue."""
    hook = Path(desktop_env["TRAYD_UI_TEST_HOOK"])
    epass2003(pin=PIN)
    _wait_menu_with(tray_agent, "ログイン…")
    driver.wait_icon("present")
    driver.choose(("Down", "Right", "Down", "Down", "Return"),  # token → ログイン…
                  lambda: "started -m trayd.ui login" in tray_agent.log_text(),
                  "PIN dialog started")
    entry = _hook_widget(hook, "pin.entry")
    driver.xdotool("mousemove", str(entry["x"] + 10), str(entry["y"] + entry["h"] // 2),
                   "click", "1")
    driver.xdotool("type", "--delay", "30", PIN)
    driver.snap("tray-9-login-dialog")
    ok = _hook_widget(hook, "pin.ok")
    driver.xdotool("mousemove", str(ok["x"] + ok["w"] // 2), str(ok["y"] + ok["h"] // 2),
                   "click", "1")
    driver.wait_icon("logged_in", timeout=30)
    tray_agent.wait_log("trayd.ui login --token", timeout=1)
    _wait_menu_with(tray_agent, "ログアウト")
    driver.snap("tray-10-logged-in")

    # Logged in: トークン情報 is enabled, so the submenu opens on it; ログアウト is 4th.
    driver.choose(("Down", "Right", "Down", "Down", "Down", "Return"),
                  lambda: "started -m trayd.ui logout" in tray_agent.log_text(),
                  "logout started")
    driver.wait_icon("present", timeout=30)
    assert PIN not in tray_agent.log_text()


def test_without_a_session_bus_the_agent_runs_headless(gui_env, tray_host, artifacts):
    env = dict(gui_env)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    agent = _start_agent(env, artifacts / "tray-agent-no-dbus.log")
    try:
        agent.wait_log("running without one")
        assert agent.alive()
    finally:
        rc, elapsed = agent.stop(signal.SIGINT)
    assert rc == 0 and elapsed < GROSS_HANG_S


def test_gtk_backend_fallback_docks_and_has_the_menu(desktop_env, tray_host, driver,
                                                     artifacts):
    """Where the AppIndicator typelib is missing the tray falls back to Gtk.StatusIcon."""
    env = dict(desktop_env, TRAYD_TRAY_BACKEND="gtk")
    agent = _start_agent(env, artifacts / "tray-agent-gtk.log")
    try:
        agent.wait_log("tray: icon shown")
        assert "tray: backend gtk" in agent.log_text()
        driver.icon_window()
        driver.wait_icon("none")
        driver.choose(("Up", "Up", "Return"),  # 通知 (above 終了): toggles notifications
                      lambda: "notifications = false" in _config_text(env), "toggle saved")
        driver.hover_tooltip()
    finally:
        rc, elapsed = agent.stop()
    assert rc == 0 and elapsed < GROSS_HANG_S


def _config_text(env: dict[str, str]) -> str:
    path = Path(env["XDG_CONFIG_HOME"]) / "trayd" / "config.toml"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_an_insertion_costs_the_card_what_pkcs11_tool_O_costs(tray_agent, epass2003,
                                                              opensc_env):
    """Issue 14: the tray and the root prompt show what the token component read at the
    insertion (TokenIdentified carries the certificates); they read nothing again. So the
    whole agent — tokens, tray menu with certificate IDs, root prompt up to its dialog —
    costs the card no more APDUs than OpenSC's own `pkcs11-tool -O` in a fresh process."""
    from rig.fixtures_emulator import pkcs11_tool

    tok = epass2003(insert=False)
    before = len(tok.apdu_log)
    tok.insert()
    _wait_menu_with(tray_agent, "ES0123456789AB")  # the user certificate's ID, in the menu
    tray_agent.wait_log("root prompt: dialog ", timeout=60)  # its certificates were looked at
    spent = len(tok.apdu_log) - before
    before = len(tok.apdu_log)
    r = pkcs11_tool("-O", env=opensc_env)
    assert r.returncode == 0 and "Certificate Object" in r.stdout, r.stderr
    baseline = len(tok.apdu_log) - before
    print(f"APDUs per insertion: agent with tray {spent}, pkcs11-tool -O {baseline}")
    assert 0 < spent <= baseline
