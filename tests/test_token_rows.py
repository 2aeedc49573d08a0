"""The one wording of token facts and certificate titles (CLI, tray, windows)."""
from __future__ import annotations

import pytest

from trayd import i18n
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.token_rows import cert_title, token_rows
from trayd.ui.tray_menu import CertView


@pytest.fixture(autouse=True)
def japanese():
    i18n.set_language("ja")
    yield
    i18n.set_language("ja")


def _token(**kw) -> TokenInfo:
    base = dict(reader="R0", slot=0, label="EPPCERT", serial="2a5e", manufacturer="EnterSafe",
                model="PKCS#15", hardware_version="1.0", firmware_version="2.0", pin_min=4,
                pin_max=16, flags=["login_required", "user_pin_count_low", "unknown_flag"])
    base.update(kw)
    return TokenInfo(**base)


def test_rows_say_state_pin_lengths_and_one_flag_per_row():
    rows = token_rows(_token(tries_left=9))
    d = dict(rows)
    assert d["トークン名"] == "EPPCERT" and d["シリアル番号"] == "2a5e"
    assert (d["PIN の最小長"], d["PIN の最大長"]) == ("4", "16")
    assert d["状態"] == "未ログイン" and d["残り試行回数"] == "9"
    # One flag per row, an unknown flag left out.
    assert [k for k, _v in rows if k in ("フラグ", "")] == ["フラグ", ""]
    assert rows[-2:] == [("フラグ", i18n._("Login required")),
                         ("", i18n._("A wrong PIN was entered"))]
    assert dict(token_rows(_token(logged_in=True)))["状態"] == "ログイン中"
    assert dict(token_rows(_token(locked=True, logged_in=True)))["状態"] == "ロック"
    assert "残り試行回数" not in dict(token_rows(_token()))
    i18n.set_language("en")
    assert dict(token_rows(_token()))["State"] == "Logged out"


@pytest.mark.parametrize("cid,label,expected", [
    ("ES0123", "EPPCERT sign", "ES0123 (EPPCERT sign)"),
    ("ES0123", "ES0123", "ES0123"),  # the label says nothing more
    (None, "root", "root"),
    (None, "", "0a0b"),
])
def test_certificate_title_is_the_same_in_the_tray_and_the_window(cid, label, expected):
    info = CertificateInfo(token_serial="s", label=label, id="0a0b", readable=True,
                           certificate_id=cid)
    assert cert_title(info) == expected
    assert CertView(id="0a0b", label=label, certificate_id=cid).title == expected
