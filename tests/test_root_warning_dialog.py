"""The セキュリティ警告 dialog on its own (`python -m trayd.ui root-warning`), in Japanese."""
from __future__ import annotations

import pytest

from trayd.core.trust_roots import colon_hex, facts


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
