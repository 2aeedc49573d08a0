"""The tray menu model (pure): structure, wording from the manual, enabling by state."""
from __future__ import annotations

import pytest

from trayd import i18n
from trayd.ui import tray_menu as m


@pytest.fixture(autouse=True)
def japanese():
    i18n.set_language("ja")
    yield
    i18n.set_language("ja")


def _texts(entries) -> list[str]:
    return [e.text for e in entries if not e.separator]


def _find(entries, text):
    for _d, e in m.flatten(entries):
        if e.text == text:
            return e
    raise AssertionError(f"{text!r} not in menu: {[e.text for _d, e in m.flatten(entries)]}")


CERT = m.CertView("a1b2", "EPPCERT User", "ES0123456789")
TOKEN = m.TokenView("2A3B4C5D6E7F", "EPPCERT", "Virtual PCD 00 00", certificates=(CERT,))


def test_no_token():
    state = m.TrayState()
    menu = m.build_menu(state)
    assert _texts(menu) == ["トークンが挿入されていません", "管理ツールを開く",
                            "ルート証明書のインストール…", "通知", "終了"]
    assert not menu[0].enabled
    assert m.icon_state(state) == "none"
    assert "トークンが挿入されていません" in m.tooltip(state)


def test_token_submenu_has_the_manuals_entries():
    state = m.TrayState(tokens=(TOKEN,))
    menu = m.build_menu(state)
    token = menu[0]
    assert token.text == "EPPCERT"
    assert _texts(token.submenu) == ["トークン情報", "証明書情報", "エクスポート…",
                                     "ログイン…", "ユーザ PIN 変更…"]
    certs = _find(menu, "証明書情報").submenu
    assert [c.text for c in certs] == ["ES0123456789 (EPPCERT User)"]
    assert certs[0].action == m.Action("ui", ("cert", "--token", "2A3B4C5D6E7F", "--id", "a1b2"))
    assert _find(menu, "エクスポート…").action == m.Action(
        "ui", ("export", "--token", "2A3B4C5D6E7F", "--id", "a1b2"))
    assert _find(menu, "ログイン…").action == m.Action("ui", ("login", "--token", "2A3B4C5D6E7F"))
    # Token information needs a login first (manual §4.2).
    assert not _find(menu, "トークン情報").enabled
    assert m.icon_state(state) == "present"
    assert m.tooltip(state) == "USB トークン(ePass2003): EPPCERT（挿入済み）"


def test_logged_in_offers_logout_and_token_info():
    t = m.TokenView(TOKEN.serial, TOKEN.label, TOKEN.reader, logged_in=True,
                    certificates=TOKEN.certificates)
    state = m.TrayState(tokens=(t,))
    menu = m.build_menu(state)
    assert menu[0].text == "EPPCERT（ログイン中）"
    assert _find(menu, "ログアウト").action == m.Action("ui", ("logout", "--token", t.serial))
    assert _find(menu, "トークン情報").enabled
    assert "ログイン…" not in [e.text for _d, e in m.flatten(menu)]
    assert m.icon_state(state) == "logged_in"


def test_locked_token_is_an_error_and_cannot_log_in():
    t = m.TokenView("S", "EPPCERT", "r", locked=True)
    state = m.TrayState(tokens=(t,))
    menu = m.build_menu(state)
    assert not _find(menu, "ログイン…").enabled
    assert not _find(menu, "ユーザ PIN 変更…").enabled
    assert not _find(menu, "エクスポート…").enabled  # no certificates
    assert _find(menu, "（証明書がありません）")
    assert m.icon_state(state) == "error"


def test_several_certificates_and_tokens():
    certs = (CERT, m.CertView("c3", "CA", None))
    t1 = m.TokenView("S1", "ONE", "Virtual PCD 00 00", certificates=certs)
    t2 = m.TokenView("S2", "TWO", "Virtual PCD 00 01")
    menu = m.build_menu(m.TrayState(tokens=(t1, t2)))
    assert [e.text for e in menu[:2]] == ["ONE", "TWO"]
    export = menu[0].submenu[2]
    assert export.text == "エクスポート…" and [e.action.args[-1] for e in export.submenu] == [
        "a1b2", "c3"]
    assert [e.text for e in menu[0].submenu[1].submenu] == ["ES0123456789 (EPPCERT User)", "CA"]


def test_pending_and_service_down():
    state = m.TrayState(pending_readers=("Virtual PCD 00 00",))
    assert _texts(m.build_menu(state))[0] == "Virtual PCD 00 00: トークンを読み取り中…"
    assert m.icon_state(state) == "present"
    down = m.TrayState(service_down=True)
    assert _texts(m.build_menu(down))[0] == "スマートカードサービス (pcscd) が動作していません"
    assert m.icon_state(down) == "error"


def test_toggles_and_capabilities():
    menu = m.build_menu(m.TrayState(notifications=False, root_install_available=True))
    assert _find(menu, "通知").checked is False
    assert _find(menu, "ルート証明書のインストール…").enabled
    assert _find(menu, "終了").action == m.Action("quit")
    assert m.build_menu(m.TrayState()) == m.build_menu(m.TrayState())  # comparable: no churn


def test_english():
    i18n.set_language("en")
    menu = m.build_menu(m.TrayState(tokens=(TOKEN,)))
    assert _texts(menu[0].submenu) == ["Token information", "Certificate information",
                                       "Export…", "Log in…", "Change user PIN…"]
    assert _texts(menu)[-1] == "Exit"
