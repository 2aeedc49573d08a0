"""The last-try question when the failures were made somewhere else.

The PIN dialog only knows in advance that the next try is the last when the token says so
(CKF_USER_PIN_FINAL_TRY); trayd's own count (max_pin_tries, shared by every process through
the state file) may be lower. Then the backend answers ConfirmationRequired and the dialog
must ask before sending the same PIN once more; いいえ sends no VERIFY (emulator log).
"""
from __future__ import annotations

import pytest

from rig.trayd_cli import run_trayd
from test_dialogs import open_manage

pytestmark = [pytest.mark.gui, pytest.mark.timeout(300)]

WRONG = "99999999"


@pytest.fixture
def three_tries(home):
    cfg = home / ".config" / "trayd"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text("max_pin_tries = 3\n")


def _no_on_the_question(app, tok) -> None:
    """Type a wrong PIN, expect the last-try question, answer いいえ: nothing was sent."""
    sent, tries = tok.pin_checks, tok.tries_left
    app.type_into("pin.entry", WRONG)
    app.click("pin.ok")
    assert "ロック" in app.widget("lastTry.text", timeout=60)["text"]
    app.click("lastTry.no")
    app.gone("lastTry.text")
    app.widget("pin.entry")  # back in the PIN dialog, after the answer was handled
    app.wait(lambda s: not s["info"].get("busy"), 30, "idle")
    assert tok.pin_checks == sent and tok.tries_left == tries


def test_cli_failures_then_dialog_asks_before_the_last_try(three_tries, trayd_env, epass2003,
                                                          ui_app):
    tok = epass2003(max_tries=10)  # the token would allow more: only trayd's count warns
    for _ in range(2):
        r = run_trayd("login", "--pin-stdin", env=trayd_env, input=WRONG + "\n")
        assert r.returncode == 4, r.stderr
    app = open_manage(ui_app, tok)
    app.click("manage.login")
    _no_on_the_question(app, tok)
    assert tok.tries_left == 8


def test_login_dialog_failures_then_management_window_asks(three_tries, epass2003, ui_app):
    tok = epass2003(max_tries=10)
    login = ui_app("login", "--token", tok.serial)
    for n in (1, 2):
        login.type_into("pin.entry", WRONG)
        login.click("pin.ok")
        assert f"{n} 回" in login.widget("error.text", timeout=60)["text"]
        login.click("error.ok")
    login.stop()
    assert tok.tries_left == 8
    app = open_manage(ui_app, tok)
    app.click("manage.login")
    _no_on_the_question(app, tok)
