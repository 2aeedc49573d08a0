"""The dialogs of manual §4.2–§4.5 on Xvfb against the virtual ePass2003.

PIN dialog (typed, soft keyboard, wrong PIN, the warning before the last try, locked),
certificate viewer (serial in hex pairs, certificate ID), export (exact bytes), change
PIN round trip, and the `python -m trayd.ui` commands the tray starts.
"""
from __future__ import annotations

import shutil
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from rig.fixtures_ui import tree_iids

pytestmark = [pytest.mark.gui, pytest.mark.timeout(300)]

if shutil.which("xdotool") is None or shutil.which("Xvfb") is None:  # pragma: no cover
    pytest.skip("needs Xvfb and xdotool", allow_module_level=True)


def open_manage(ui_app, tok):
    app = ui_app("manage")
    app.wait(lambda s: any(i.startswith(f"c:{tok.serial}:") for i in tree_iids(s)), 60,
             "token and certificates listed")
    app.wait(lambda s: not s["info"].get("busy"), 30, "idle")
    return app


def user_cert_iid(tok) -> str:
    """The tree row of the user certificate (the one whose DER is tok.user_cert_der)."""
    obj = next(o for o in tok.cert_objects if o.der == tok.user_cert_der)
    return f"c:{tok.serial}:{obj.cert_id.hex()}"


def logged_in(app) -> bool:
    return app.state()["widgets"]["manage.login"]["text"] == "ログアウト"


# ------------------------------------------------------------------ PIN dialog

def test_login_with_soft_keyboard_ignores_physical_keys(epass2003, ui_app, ui_snap):
    tok = epass2003()
    app = open_manage(ui_app, tok)
    app.click("manage.login")
    app.widget("pin.entry")
    assert app.widget("pin.softkb")["text"] == "ソフトキーボードを利用する"
    ui_snap("dialog-pin")
    app.click("pin.softkb")
    app.widget("kb.key.bspc")
    # Physical typing into the PIN field is ignored while the soft keyboard is on: if
    # these keys got through, the PIN below would be wrong and the login would fail.
    app.type_into("pin.entry", "9999")
    for ch in tok.pin:
        app.click(f"kb.key.{ch}")
    ui_snap("dialog-pin-soft-keyboard")
    app.click("pin.ok")
    app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログアウト", 60,
             "login through the soft keyboard")
    assert tok.pin_accepted
    assert tok.tries_left == 10  # no wrong try was spent


def test_soft_keyboard_shift_caps_and_editing_keys(epass2003, ui_app):
    """A PIN with upper case and symbols typed only on the soft keyboard (change PIN)."""
    tok = epass2003(pin="12345678")
    app = open_manage(ui_app, tok)
    app.click("manage.change_pin")
    app.widget("chpin.current")
    app.click("chpin.softkb")
    app.widget("kb.key.bspc")

    def soft(entry: str, keys: list[str]) -> None:
        app.click(entry)
        for k in keys:
            app.click(f"kb.key.{k}")

    soft("chpin.current", list("12345679") + ["bspc", "8"])        # Bspc edits
    new = ["caps", "a", "b", "caps", "c", "shift", "1", "shift", "5", "9", "x", "z"]
    # = "ABc!%9xz" (Caps for A, B; Shift for ! and %)
    soft("chpin.new", new)
    soft("chpin.repeat", ["home", "z", "end"] + new + ["home", "del"])  # Home/Del edit
    app.click("chpin.ok")
    app.widget("changed.ok", timeout=60)
    app.click("changed.ok")
    app.gone("chpin.current")
    assert tok.pin_matches("ABc!%9xz")


def test_wrong_pin_then_last_try_warning_then_locked(epass2003, ui_app, home, ui_snap):
    cfg = home / ".config" / "trayd"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text("max_pin_tries = 3\n")
    tok = epass2003(max_tries=3)
    app = open_manage(ui_app, tok)
    app.click("manage.login")
    app.widget("pin.entry")

    # A PIN shorter than the token's minimum costs no try.
    app.type_into("pin.entry", "12")
    app.click("pin.ok")
    app.widget("error.ok")
    assert tok.tries_left == 3
    app.click("error.ok")

    app.type_into("pin.entry", "00000000")
    app.click("pin.ok")
    text = app.widget("error.text", timeout=60)["text"]
    assert "PIN が正しくありません。" in text and "リトライ" in text
    assert "連続して間違えた回数: 1 回" in text and "3 回連続" in text
    assert tok.tries_left == 2
    ui_snap("dialog-wrong-pin")
    app.click("error.ok")
    app.widget("pin.entry")  # the PIN dialog stays open for a retry

    app.type_into("pin.entry", "00000001")
    app.click("pin.ok")
    assert "2 回" in app.widget("error.text", timeout=60)["text"]
    app.click("error.ok")
    assert tok.tries_left == 1

    # The next try is the last: the dialog warns before anything reaches the token.
    checks = tok.pin_checks
    app.type_into("pin.entry", "00000002")
    app.click("pin.ok")
    warn = app.widget("lastTry.text", timeout=30)["text"]
    # messages.last_try_question: the sentence the CLI asks and refuses with, too.
    assert warn == ("この PIN も間違っていると、トークンがロックされ、以降ご利用できなくなります。"
                    "\n続行しますか？")
    ui_snap("dialog-last-try-warning")
    app.click("lastTry.no")
    app.gone("lastTry.text")
    app.widget("pin.entry")  # back in the PIN dialog once the answer was handled
    app.wait(lambda s: not s["info"].get("busy"), 30, "idle")
    assert tok.pin_checks == checks  # いいえ sent nothing
    assert tok.tries_left == 1 and not tok.locked

    app.type_into("pin.entry", "00000003")
    app.click("pin.ok")
    app.click("lastTry.yes")
    locked = app.widget("error.text", timeout=60)["text"]
    assert "ロックされています" in locked  # messages.pin_locked_text, as the CLI says it
    assert tok.locked
    ui_snap("dialog-locked")
    app.click("error.ok")
    app.gone("pin.entry")
    app.wait(lambda s: "(ロック)" in next(r["text"] for r in s["trees"]["manage.tree"]["rows"]
                                         if r["iid"] == f"t:{tok.serial}"), 30,
             "the token marked as locked")
    app.widget("manage.login", enabled=False)


# ------------------------------------------------------------------ certificate viewer

def test_certificate_viewer_serial_in_hex_and_certificate_id(epass2003, ui_app, ui_snap):
    tok = epass2003()
    cert = x509.load_der_x509_certificate(tok.user_cert_der)
    app = open_manage(ui_app, tok)
    iid = user_cert_iid(tok)
    app.click_row("manage.tree", iid)
    app.click("manage.cert")
    app.widget("cert.ok", timeout=60)
    st = app.state()
    assert st["info"]["cert.tabs"] == ["全般", "詳細"]
    ui_snap("dialog-certificate-general")

    x, y = app.wait(lambda s: s["info"]["cert.tab_centres"]["詳細"], 10, "tab positions")
    app.click_at(x, y)
    app.wait(lambda s: s["info"].get("cert.tab") == 1, 10, "詳細 tab")
    rows = app.wait(lambda s: s["trees"]["cert.fields"]["rows"], 10, "詳細 rows")
    names = [r["text"] for r in rows]
    for label in ("バージョン", "シリアル番号", "署名アルゴリズム", "発行者", "有効期間の開始",
                  "有効期間の終了", "サブジェクト", "公開キー", "拇印", "証明書 ID"):
        assert label in names, label
    serial_pairs = " ".join(f"{b:02x}" for b in cert.serial_number.to_bytes(
        cert.serial_number.bit_length() // 8 + 1, "big"))
    serial_row = next(r for r in rows if r["iid"] == "serial")
    assert serial_row["values"][0] == serial_pairs
    app.click_row("cert.fields", "serial")
    app.wait(lambda s: s["info"].get("cert.box") == serial_pairs, 10, "serial in the box")

    # §4.3④: click サブジェクト; the box below shows the ES…/FC… certificate ID.
    cid_row = next(r for r in rows if r["iid"] == "certificate_id")
    cid = cid_row["values"][0]
    assert cid[:2] in ("ES", "FC")
    app.click_row("cert.fields", "subject")
    box = app.wait(lambda s: s["info"].get("cert.box"), 10, "subject in the box")
    assert cid in box and "CN = " in box
    ui_snap("dialog-certificate-details")
    app.click("cert.ok")
    app.gone("cert.ok")


# ------------------------------------------------------------------ export

@pytest.mark.parametrize("name,fmt", [("exported.cer", "der"), ("exported.pem", "pem")])
def test_export_writes_exactly_the_token_certificate(epass2003, ui_app, ui_snap, tmp_path,
                                                     name, fmt):
    tok = epass2003()
    out = tmp_path / "out"
    out.mkdir()
    app = ui_app("manage", "--export-dir", str(out))
    app.wait(lambda s: any(i.startswith(f"c:{tok.serial}:") for i in tree_iids(s)), 60,
             "listed")
    app.click_row("manage.tree", user_cert_iid(tok))
    app.click("manage.export")
    app.widget("filedialog.entry", timeout=30)
    assert app.widget("filedialog.save")["viewable"]
    if fmt == "der":
        ui_snap("dialog-export-save")
    app.click("filedialog.entry")
    app.key("ctrl+slash")  # select the suggested name, then replace it
    app.xdotool("type", "--delay", "20", str(out / name))
    app.key("Return")
    text = app.widget("exported.text", timeout=60)["text"]
    assert text.startswith("エクスポート成功")
    if fmt == "der":
        ui_snap("dialog-export-success")
    app.click("exported.ok")
    data = (out / name).read_bytes()
    if fmt == "der":
        assert data == tok.user_cert_der
    else:
        cert = x509.load_pem_x509_certificate(data)
        assert cert.public_bytes(serialization.Encoding.DER) == tok.user_cert_der
        assert b"PRIVATE KEY" not in data
    assert sorted(p.name for p in out.iterdir()) == [name]


# ------------------------------------------------------------------ change PIN

def test_change_pin_round_trip(epass2003, ui_app, ui_snap):
    tok = epass2003(pin="12345678")
    app = open_manage(ui_app, tok)
    app.click("manage.change_pin")
    app.widget("chpin.current")
    st = app.state()["widgets"]
    assert st["chpin.strength"]["text"] == "強度チェック"
    assert st["chpin.softkb"]["text"] == "ソフトキーボード"

    app.type_into("chpin.current", "12345678")
    app.click("chpin.strength")
    app.type_into("chpin.new", "Tr4yd#Pin2026")
    app.wait(lambda s: s["info"].get("chpin.strength") == 3, 10, "strength 高")
    assert app.state()["widgets"]["chpin.meter"]["text"] == "強度: 高"
    app.type_into("chpin.repeat", "Tr4yd#Pin2027")  # mismatch: refused before the token
    ui_snap("dialog-change-pin")
    app.click("chpin.ok")
    assert "一致" in app.widget("error.text")["text"]
    app.click("error.ok")
    assert tok.pin_matches("12345678")

    app.click("chpin.repeat")
    app.key("End", "BackSpace")
    app.xdotool("type", "6")
    app.click("chpin.ok")
    text = app.widget("changed.text", timeout=60)["text"]
    assert text == "ユーザ PIN 変更 成功"
    ui_snap("dialog-change-pin-success")
    app.click("changed.ok")
    app.gone("chpin.current")
    assert tok.pin_matches("Tr4yd#Pin2026")

    # And back, proving the new PIN works for a login through the dialog.
    app.click("manage.login")
    app.type_into("pin.entry", "Tr4yd#Pin2026")
    app.click("pin.ok")
    app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログアウト", 60, "login")


def test_change_pin_weak_needs_yes(epass2003, ui_app):
    tok = epass2003(pin="12345678")
    app = open_manage(ui_app, tok)
    app.click("manage.change_pin")
    app.type_into("chpin.current", "12345678")
    app.type_into("chpin.new", "1111")
    app.type_into("chpin.repeat", "1111")
    app.click("chpin.ok")
    assert "低" in app.widget("weak.text")["text"]
    app.click("weak.no")
    app.gone("weak.text")
    assert tok.pin_matches("12345678")
    app.click("chpin.ok")
    app.click("weak.yes")
    app.click("changed.ok", timeout=60)
    assert tok.pin_matches("1111")


# ------------------------------------------------------------------ standalone commands

def test_standalone_login_dialog_exit_codes(epass2003, ui_app):
    tok = epass2003()
    app = ui_app("login", "--token", tok.serial)
    app.widget("pin.entry", timeout=60)
    app.click("pin.cancel")
    assert app.wait_exit() == 6
    assert not tok.pin_accepted

    app = ui_app("login", "--token", tok.serial)
    app.type_into("pin.entry", tok.pin)
    app.key("Return")
    assert app.wait_exit(60) == 0


def test_standalone_unknown_token_says_so(epass2003, ui_app):
    epass2003()
    app = ui_app("cert", "--token", "nosuchserial", "--id", "45")
    text = app.widget("error.text", timeout=60)["text"]
    assert "nosuchserial" in text
    app.click("error.ok")
    assert app.wait_exit() == 3


@pytest.mark.parametrize("button,code", [("yes", 0), ("no", 6)])
def test_confirm_exit_command(ui_app, ui_snap, button, code):
    app = ui_app("confirm-exit")
    assert app.widget("confirm.text")["text"] == "終了してもよろしいですか？"
    app.click(f"confirm.{button}")
    assert app.wait_exit() == code


def test_standalone_commands_the_tray_starts(epass2003, ui_app, tmp_path, ui_snap):
    """token-info, cert, export, logout as separate processes (the tray's menu entries)."""
    tok = epass2003()
    app = ui_app("token-info", "--token", tok.serial)
    app.widget("tokeninfo.ok", timeout=60)
    ui_snap("dialog-token-info")
    app.click("tokeninfo.ok")
    assert app.wait_exit() == 0

    cert_id = user_cert_iid(tok).split(":", 2)[2]
    app = ui_app("cert", "--token", tok.serial, "--id", cert_id)
    app.widget("cert.ok", timeout=60)
    assert app.state()["info"]["cert.tabs"] == ["全般", "詳細"]
    app.click("cert.ok")
    assert app.wait_exit() == 0

    out = tmp_path / "exp"
    out.mkdir()
    app = ui_app("export", "--token", tok.serial, "--id", cert_id, "--dir", str(out))
    app.click("filedialog.entry", timeout=60)  # keyboard focus follows the pointer
    app.key("Return")  # accept the suggested name: <certificate ID>.cer in --dir
    app.click("exported.ok", timeout=60)
    assert app.wait_exit() == 0
    files = list(out.iterdir())
    assert len(files) == 1 and files[0].suffix == ".cer"
    assert files[0].read_bytes() == tok.user_cert_der

    app = ui_app("export", "--token", tok.serial, "--id", cert_id, "--dir", str(out))
    app.click("filedialog.cancel", timeout=60)
    assert app.wait_exit() == 6

    app = ui_app("logout", "--token", tok.serial)
    assert app.wait_exit(60) == 0


def test_token_pulled_while_pin_dialog_open(epass2003, ui_app):
    """The dialog says why and closes; the window keeps working and sees the token again."""
    tok = epass2003()
    app = open_manage(ui_app, tok)
    app.click("manage.login")
    app.widget("pin.entry")
    tok.remove()
    app.wait(lambda s: not tree_iids(s), 30, "removal seen while the dialog is open")
    app.type_into("pin.entry", tok.pin)
    app.click("pin.ok")
    text = app.widget("error.text", timeout=60)["text"]
    assert tok.serial in text or "外" in text or "接続" in text
    app.click("error.ok")
    app.gone("pin.entry")
    tok.insert()
    app.wait(lambda s: f"t:{tok.serial}" in tree_iids(s), 60, "token back")
    app.widget("manage.login", enabled=True)


def test_busy_feedback_while_the_token_is_slow(epass2003, ui_app, ui_snap):
    """A slow token (every APDU delayed) shows busy feedback and never freezes Tk: the
    test hook, which runs on the Tk thread, keeps publishing while the login runs."""
    tok = epass2003()
    app = open_manage(ui_app, tok)
    app.click("manage.login")
    app.type_into("pin.entry", tok.pin)
    slow_until = time.monotonic() + 3.0

    def slow(_apdu: bytes) -> bool:  # a latency injector: never pulls the token
        if time.monotonic() < slow_until:
            time.sleep(0.25)
        return False  # never fires, so it stays armed and delays every APDU for 3 s

    tok.pull_on(slow)
    app.click("pin.ok")
    def busy(s: dict) -> dict | None:
        w = s["widgets"]
        return s if w["pin.ok"]["disabled"] and w["pin.status"]["text"] else None

    st = app.wait(busy, 10, "busy feedback")
    assert st["widgets"]["pin.status"]["text"] == "トークンにログインしています…"
    ui_snap("dialog-pin-busy")
    # Tk keeps running mid-call: its heartbeat changes while the dialog is still busy.
    later = app.wait(lambda s: busy(s) if s["heartbeat"] != st["heartbeat"] else None,
                     5, "a heartbeat while busy")
    assert later["widgets"]["pin.ok"]["disabled"]
    app.wait(lambda s: s["widgets"]["manage.login"]["text"] == "ログアウト", 60, "login")
    assert tok.pin_accepted
