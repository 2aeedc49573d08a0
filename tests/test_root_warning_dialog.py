"""The セキュリティ警告 dialog on its own (`python -m trayd.ui root-warning`), in Japanese."""
from __future__ import annotations

import pytest

from trayd.core.certificates import colon_hex
from trayd.core.trust_roots import facts


@pytest.mark.parametrize("button,code", [("root.yes", 0), ("root.no", 6)])
def test_japanese_warning_answers(ui_app, ui_snap, gui_env, own_pki, button, code):
    env = dict(gui_env, TRAYD_LANGUAGE="ja")
    app = ui_app("root-warning", "--cert", str(own_pki.path("root")), env=env)
    app.widget(button)
    text = app.state()["widgets"]["root.text"]["text"]
    assert "発行者が次であると主張する証明機関 (CA) から証明書をインストールしようとしています" in text
    assert "拇印 (sha1): " + colon_hex(facts(own_pki.der["root"]).sha1) in text
    assert "この証明書をインストールしますか?" in text
    widgets = app.state()["widgets"]
    assert widgets["root.yes"]["text"] == "はい" and widgets["root.no"]["text"] == "いいえ"
    assert widgets["root.window"]["title"] == "セキュリティ警告"
    if code == 0:
        ui_snap("root-warning-ja")
    app.click(button)
    assert app.wait_exit() == code


def test_unreadable_certificate_is_an_error(ui_app, gui_env, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    app = ui_app("root-warning", "--cert", str(bad))
    assert app.wait_exit() == 1


def test_cli_without_terminal_asks_with_the_window(gui_env, home, own_pki, tmp_path):
    """The tray's menu entry runs `trayd root install` without a terminal: the window asks."""
    import json
    import os
    import subprocess
    import time

    from rig.trayd_cli import TRAYD

    hook = tmp_path / "hook.json"
    env = dict(gui_env, TRAYD_LANGUAGE="en", TRAYD_UI_TEST_HOOK=str(hook))
    proc = subprocess.Popen([*TRAYD, "root", "install", "--file", str(own_pki.path("root"))],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        w = None
        while time.monotonic() < deadline and w is None:
            try:
                w = json.loads(hook.read_text())["widgets"].get("root.yes")
                if w and not w.get("viewable"):
                    w = None
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        assert w, "no security warning window"
        subprocess.run(["xdotool", "mousemove", "--sync", str(w["x"] + w["w"] // 2),
                        str(w["y"] + w["h"] // 2), "click", "1"],
                       env=dict(os.environ, DISPLAY=env["DISPLAY"]), check=True, timeout=10)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    listing = subprocess.run(["certutil", "-L", "-d", f"sql:{home}/.pki/nssdb"],
                             capture_output=True, text=True, check=True).stdout
    assert "trayd Test Root CA (trayd)" in listing
