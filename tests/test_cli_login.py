"""`trayd login` / `trayd logout` (§4.2, §4.6): PIN from stdin only, counted failures, lock."""
from __future__ import annotations

import json

from rig.trayd_cli import run_on_pty, run_trayd

PIN = "12345678"


def is_verify(apdu: bytes) -> bool:
    """The PIN VERIFY on the wire (not the retry-counter query, which carries no PIN)."""
    return len(apdu) > 20 and apdu[1] == 0x82 and apdu[2] == 0x01


def verifies(tok) -> int:
    return sum(1 for cmd, _ in tok.apdu_log if is_verify(cmd))


def test_login_ok_then_logout(trayd_env, epass2003):
    tok = epass2003()
    r = run_trayd("login", "--token", tok.serial, "--pin-stdin", env=trayd_env, input=PIN + "\n")
    assert r.returncode == 0, r.stderr
    assert "ログインしました" in r.stdout and tok.serial in r.stdout
    r = run_trayd("login", "--pin-stdin", "--json", env=trayd_env, input=PIN + "\n")
    assert r.returncode == 0 and json.loads(r.stdout)["logged_in"] is True
    r = run_trayd("logout", env=trayd_env)
    assert r.returncode == 0 and "ログアウトしました" in r.stdout
    r = run_trayd("--language", "en", "logout", "--token", tok.serial, env=trayd_env)
    assert r.returncode == 0 and "Logged out." in r.stdout


def test_wrong_pin_exit_4_with_count(trayd_env, epass2003):
    tok = epass2003()
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input="00000000\n")
    assert r.returncode == 4
    assert "PIN が正しくありません" in r.stderr and "1 回 / 10 回" in r.stderr
    r = run_trayd("--language", "en", "login", "--pin-stdin", env=trayd_env, input="00000000\n")
    assert r.returncode == 4 and "2 of 10" in r.stderr
    assert tok.tries_left == 8
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input=PIN + "\n")
    assert r.returncode == 0 and tok.tries_left == 10


def test_bad_length_costs_no_try(trayd_env, epass2003):
    tok = epass2003()
    for pin, words in (("123", "短すぎ"), ("1" * 17, "長すぎ"), ("", "PIN")):
        r = run_trayd("login", "--pin-stdin", env=trayd_env, input=pin + "\n")
        assert r.returncode == 2, (pin, r.stderr)
        assert words in r.stderr
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input="")  # no line at all
    assert r.returncode == 2
    assert verifies(tok) == 0 and tok.tries_left == 10


def test_no_terminal_and_no_stdin_flag_is_a_usage_error(trayd_env, epass2003):
    import subprocess

    from rig.trayd_cli import TRAYD

    tok = epass2003()
    # A new session has no controlling terminal: nowhere to ask, and argv/env are no option.
    r = subprocess.run([*TRAYD, "login"], env=trayd_env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60, start_new_session=True)
    assert r.returncode == 2, r.stderr
    assert "--pin-stdin" in r.stderr and "Traceback" not in r.stderr
    assert verifies(tok) == 0


def test_lock_sequence_max_tries_10(trayd_env, epass2003):
    tok = epass2003(max_tries=10)
    for n in range(1, 10):
        r = run_trayd("login", "--pin-stdin", env=trayd_env, input="99999999\n")
        assert r.returncode == 4, r.stderr
        assert f"{n} 回 / 10 回" in r.stderr
    assert tok.tries_left == 1
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input="99999999\n")
    assert r.returncode == 6 and "--yes" in r.stderr
    # The PIN dialogs' own warning (messages.last_try_warning), then how to go on.
    assert ("この PIN も間違っていると、トークンがロックされ、以降ご利用できなくなります。"
            " それでも試す場合は --yes を付けてください。") in r.stderr
    assert tok.tries_left == 1 and verifies(tok) == 9  # the locking try was not sent
    r = run_trayd("login", "--pin-stdin", "--yes", env=trayd_env, input="99999999\n")
    assert r.returncode == 5 and "ロック" in r.stderr
    assert tok.locked
    r = run_trayd("tokens", "--json", env=trayd_env)
    assert json.loads(r.stdout)[0]["locked"] is True
    r = run_trayd("login", "--pin-stdin", "--yes", env=trayd_env, input=PIN + "\n")
    assert r.returncode == 5 and "発行元" in r.stderr


def test_token_pulled_during_login(trayd_env, epass2003, home):
    tok = epass2003()
    tok.pull_on(is_verify)
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input=PIN + "\n")
    assert tok.pulled.is_set()
    assert r.returncode == 1, r.stderr
    assert "トークンが外されました" in r.stderr
    tok.insert()
    r = run_trayd("tokens", "--json", env=trayd_env)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["serial"] == tok.serial
    # The interrupted try was not counted as a wrong PIN.
    counter = home / ".local/state/trayd/pin-failures.json"
    assert not counter.exists() or json.loads(counter.read_text()).get(tok.serial, {}).get(
        "failures", 0) == 0


def test_max_tries_from_config(trayd_env, epass2003, home):
    tok = epass2003(max_tries=3)
    (home / ".config/trayd").mkdir(parents=True, exist_ok=True)
    (home / ".config/trayd/config.toml").write_text("max_pin_tries = 3\n")
    for n in (1, 2):
        r = run_trayd("login", "--pin-stdin", env=trayd_env, input="99999999\n")
        assert r.returncode == 4 and f"{n} 回 / 3 回" in r.stderr
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input=PIN + "\n")
    assert r.returncode == 6 and tok.tries_left == 1  # even the right PIN waits for --yes
    r = run_trayd("login", "--pin-stdin", "--yes", env=trayd_env, input=PIN + "\n")
    assert r.returncode == 0 and tok.tries_left == 3
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input="99999999\n")
    assert r.returncode == 4 and "1 回 / 3 回" in r.stderr  # the count restarted


def test_interactive_prompt_does_not_echo(trayd_env, epass2003):
    tok = epass2003()
    code, shown = run_on_pty(["login"], trayd_env, [PIN])
    assert code == 0, shown
    assert "ユーザ PIN:" in shown and "ログインしました" in shown
    assert PIN not in shown  # typed without echo
    assert tok.tries_left == 10


def test_interactive_last_try_question(trayd_env, epass2003, home):
    tok = epass2003(max_tries=2)
    (home / ".config/trayd").mkdir(parents=True, exist_ok=True)
    (home / ".config/trayd/config.toml").write_text("max_pin_tries = 2\n")
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input="99999999\n")
    assert r.returncode == 4
    code, shown = run_on_pty(["login"], trayd_env, ["99999999", "n"])
    assert code == 6, shown  # said no: nothing sent
    assert "以降ご利用できなくなります。" in shown and "続行しますか？ [y/N]" in shown, shown
    assert tok.tries_left == 1 and not tok.locked
