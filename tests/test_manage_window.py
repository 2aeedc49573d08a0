"""The management window (manual §4.1–§4.6) on Xvfb against the virtual ePass2003.

Real components throughout: `python -m trayd.ui manage` (Tk) → LocalTokenService →
OpenSC's opensc-pkcs11.so → private pcscd + vpcd → the project's ePass2003 emulator.
Clicks and typing go through xdotool at the coordinates the UI publishes via its test
hook; screenshots land in tests/_artifacts/.
"""
from __future__ import annotations

import shutil
import time

import pytest

from rig.fixtures_ui import tree_iids

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]

if shutil.which("xdotool") is None or shutil.which("Xvfb") is None:  # pragma: no cover
    pytest.skip("needs Xvfb and xdotool", allow_module_level=True)


def open_manage(ui_app, tok):
    app = ui_app("manage")
    app.wait(lambda s: f"t:{tok.serial}" in tree_iids(s), 60, "token in the list")
    app.wait(lambda s: any(i.startswith(f"c:{tok.serial}:") for i in tree_iids(s)), 30,
             "certificates under the token")
    app.wait(lambda s: not s["info"].get("busy"), 30, "idle")
    return app


def test_window_lists_token_and_follows_removal(epass2003, ui_app, ui_snap):
    tok = epass2003()
    app = open_manage(ui_app, tok)
    st = app.state()
    assert st["widgets"]["manage.window"]["title"] == "ePass2003 管理ツール"
    row = next(r for r in st["trees"]["manage.tree"]["rows"] if r["iid"] == f"t:{tok.serial}")
    assert tok.serial in row["text"]
    certs = [r for r in st["trees"]["manage.tree"]["rows"] if r["parent"] == f"t:{tok.serial}"]
    assert {r["iid"].split(":", 2)[2] for r in certs} == set(tok.cert_ids)
    # Nothing selected that is a certificate: 証明書情報/エクスポート are off, ログイン is on.
    w = st["widgets"]
    assert w["manage.login"]["text"] == "ログイン" and not w["manage.login"]["disabled"]
    assert w["manage.cert"]["disabled"] and w["manage.export"]["disabled"]
    assert [w[k]["text"] for k in ("manage.cert", "manage.export", "manage.change_pin",
                                   "manage.exit")] == ["証明書情報", "エクスポート",
                                                       "ユーザ PIN 変更", "終了"]
    ui_snap("manage-token-listed")

    cert_iid = f"c:{tok.serial}:{tok.cert_ids[0]}"
    app.click_row("manage.tree", cert_iid)
    app.widget("manage.cert", enabled=True)
    app.widget("manage.export", enabled=True)

    tok.remove()
    app.wait(lambda s: not tree_iids(s), 30, "the pulled token to leave the list")
    st = app.state()
    assert st["widgets"]["manage.login"]["disabled"]
    assert st["widgets"]["manage.cert"]["disabled"]
    ui_snap("manage-no-token")

    tok.insert()
    app.wait(lambda s: f"t:{tok.serial}" in tree_iids(s), 60, "the token to come back")


def test_login_typed_shows_token_info_then_logout(epass2003, ui_app, ui_snap):
    tok = epass2003(pin="59263148")  # a PIN that occurs nowhere else (the ID holds 1234…)
    app = open_manage(ui_app, tok)
    assert app.state()["trees"]["manage.info"]["rows"] == []  # info only after login
    app.click("manage.login")
    app.type_into("pin.entry", tok.pin)
    time.sleep(0.5)  # a few test-hook ticks with the PIN in the entry
    hook_text = app.hook.read_text(encoding="utf-8")
    assert tok.pin not in hook_text, hook_text[hook_text.find(tok.pin) - 200:][:400]
    app.click("pin.ok")
    app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログアウト", 60,
             "ログイン to become ログアウト")
    app.gone("pin.entry")
    info = app.wait(lambda s: s["trees"]["manage.info"]["rows"], 10, "token information")
    values = {r["text"]: r["values"][0] for r in info}
    assert values["シリアル番号"] == tok.serial
    assert values["状態"] == "ログイン中"
    assert tok.pin_accepted
    ui_snap("manage-logged-in")

    app.click("manage.login")  # now ログアウト
    app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログイン", 30, "logout")
    assert app.state()["trees"]["manage.info"]["rows"] == []
    assert tok.pin not in app.output()  # nothing the UI printed or logged holds the PIN


def test_exit_asks_for_confirmation(epass2003, ui_app, ui_snap):
    tok = epass2003()
    app = open_manage(ui_app, tok)
    app.click("manage.exit")
    text = app.widget("confirm.text")["text"]
    assert text == "終了してもよろしいですか？"
    assert app.widget("confirm.yes")["text"] == "はい"
    assert app.widget("confirm.no")["text"] == "いいえ"
    ui_snap("manage-confirm-exit")
    app.click("confirm.no")
    app.gone("confirm.text")
    assert app.proc.poll() is None  # いいえ keeps the window open
    app.click("manage.exit")
    app.click("confirm.yes")
    assert app.wait_exit(30) == 0


def test_trayd_manage_command(epass2003, ui_app, trayd_env):
    """`trayd manage` opens the same window; without a display it says why (exit 2)."""
    from rig.trayd_cli import run_trayd

    r = run_trayd("manage", env=trayd_env)
    assert r.returncode == 2 and "DISPLAY" in r.stderr

    tok = epass2003()
    app = ui_app("manage", module="trayd")
    app.wait(lambda s: f"t:{tok.serial}" in tree_iids(s), 60, "token listed")
    app.click("manage.exit")
    app.click("confirm.yes")
    assert app.wait_exit() == 0


def test_two_tokens_each_with_its_own_state(epass2003, ui_app):
    a = epass2003(slot=0)
    b = epass2003(slot=1, pin="24681357")
    app = ui_app("manage")
    app.wait(lambda s: {f"t:{a.serial}", f"t:{b.serial}"} <= set(tree_iids(s)), 60,
             "both tokens listed")
    app.wait(lambda s: not s["info"].get("busy"), 30, "idle")
    app.click_row("manage.tree", f"t:{b.serial}")
    app.click("manage.login")
    app.type_into("pin.entry", b.pin)
    app.click("pin.ok")
    app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログアウト", 60, "b logged in")
    assert b.pin_accepted and not a.pin_accepted
    app.click_row("manage.tree", f"t:{a.serial}")
    app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログイン", 10,
             "the button follows the selected token")
    a.remove()
    app.wait(lambda s: tree_iids(s) and f"t:{a.serial}" not in tree_iids(s), 30, "a gone")
    assert f"t:{b.serial}" in tree_iids(app.state())
    # The other token's login survives: the selection falls back to it, still logged in.
    app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログアウト", 10, "b still in")
    assert b.pin_accepted


def test_second_window_is_refused(epass2003, ui_app):
    """One management window per session (two would both bind the token)."""
    tok = epass2003()
    first = ui_app("manage")
    first.wait(lambda s: f"t:{tok.serial}" in tree_iids(s), 60, "first window up")
    second = ui_app("manage")
    assert second.widget("already.text")["text"] == "管理ツールは既に起動しています。"
    second.click("already.ok")
    assert second.wait_exit() == 0
    assert first.proc.poll() is None


def test_a_second_window_defers_to_the_first_until_it_dies(epass2003, ui_app):
    """One management window (its FileLock on manage.lock): a second start says so and
    exits 0; killing the first frees the lock for the next start."""
    tok = epass2003()
    first = open_manage(ui_app, tok)
    second = ui_app("manage")
    text = second.widget("already.text", timeout=60)
    assert text["text"] == "管理ツールは既に起動しています。"
    second.click("already.ok")
    assert second.wait_exit(30) == 0
    assert first.state()["widgets"]["manage.window"]["viewable"]
    first.proc.kill()
    first.proc.wait()
    open_manage(ui_app, tok)
