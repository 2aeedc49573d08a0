"""`trayd change-pin` (§4.5): current, new, re-entry; policy first, strength, weak needs --yes."""
from __future__ import annotations

from rig.trayd_cli import run_on_pty, run_trayd

PIN = "12345678"
STRONG = "Xk7#pQ2m"


def change(env, *lines, extra=()):
    return run_trayd("change-pin", "--pin-stdin", *extra, env=env,
                     input="".join(x + "\n" for x in lines))


def test_change_pin_success_and_login_with_new(trayd_env, epass2003):
    tok = epass2003()
    r = change(trayd_env, PIN, STRONG, STRONG)
    assert r.returncode == 0, r.stderr
    assert "ユーザ PIN 変更 成功" in r.stdout and "強度: 高" in r.stdout
    assert tok.pin_matches(STRONG)
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input=STRONG + "\n")
    assert r.returncode == 0, r.stderr


def test_refusals_send_nothing(trayd_env, epass2003):
    tok = epass2003()
    before = len(tok.apdu_log)
    cases = [((PIN, STRONG, STRONG + "x"), "一致しません"),
             ((PIN, PIN, PIN), "同じ"),
             ((PIN, "123", "123"), "短すぎ"),
             ((PIN, "1" * 17, "1" * 17), "長すぎ")]
    for lines, words in cases:
        r = change(trayd_env, *lines)
        assert r.returncode == 2, (lines, r.stderr)
        assert words in r.stderr
    writes = [c for c, _ in tok.apdu_log[before:]
              if (c[1] == 0x82 and c[2] == 0x01 and len(c) > 20) or c[1] == 0xE5]
    assert writes == [] and tok.pin_matches(PIN)


def test_weak_pin_needs_yes(trayd_env, epass2003):
    tok = epass2003()
    r = change(trayd_env, PIN, "11112222", "11112222")
    assert r.returncode == 6 and "強度: 低" in r.stdout and "--yes" in r.stderr
    assert tok.pin_matches(PIN)
    r = change(trayd_env, PIN, "11112222", "11112222", extra=("--yes",))
    assert r.returncode == 0, r.stderr
    assert tok.pin_matches("11112222")


def test_wrong_current_pin(trayd_env, epass2003):
    tok = epass2003()
    r = change(trayd_env, "00000000", STRONG, STRONG)
    assert r.returncode == 4 and "PIN が正しくありません" in r.stderr
    assert tok.pin_matches(PIN) and tok.tries_left == 9


def test_token_pulled_during_pin_change(trayd_env, epass2003):
    tok = epass2003()
    tok.pull_on_ins(0xE5)
    r = change(trayd_env, PIN, STRONG, STRONG)
    assert tok.pulled.is_set()
    assert r.returncode == 1 and "ユーザ PIN 変更中にトークンが外されました" in r.stderr
    assert "Traceback" not in r.stderr


def test_weak_pin_question_on_the_terminal(trayd_env, epass2003):
    """On a terminal the weak-PIN question is asked (y/N): no keeps the PIN, yes changes it."""
    tok = epass2003()
    code, shown = run_on_pty(["change-pin"], trayd_env, [PIN, "11112222", "11112222", "n"])
    assert code == 6, shown
    assert "新しい PIN の強度は「低」です。このまま使用しますか？ [y/N]" in shown, shown
    assert tok.pin_matches(PIN)
    code, shown = run_on_pty(["change-pin"], trayd_env, [PIN, "11112222", "11112222", "y"])
    assert code == 0, shown
    assert tok.pin_matches("11112222")
    assert PIN not in shown and "11112222" not in shown  # nothing typed was echoed
