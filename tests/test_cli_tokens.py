"""`trayd tokens` and `trayd certs` as a user or script runs them (real stack, child process)."""
from __future__ import annotations

import json

from rig.trayd_cli import run_trayd

CONTRACT_TOKEN = {"reader", "slot", "label", "serial", "manufacturer", "model", "pin_min",
                  "pin_max", "flags", "tries_left", "locked"}
CONTRACT_CERT = {"token_serial", "label", "id", "subject", "issuer", "serial_hex", "not_before",
                 "not_after", "certificate_id", "sha1", "sha256", "is_ca", "self_signed",
                 "key_type", "key_bits", "days_left", "readable"}


def test_tokens_json_contract(trayd_env, epass2003):
    tok = epass2003()
    r = run_trayd("tokens", "--json", env=trayd_env)
    assert r.returncode == 0, r.stderr
    [t] = json.loads(r.stdout)
    assert CONTRACT_TOKEN <= set(t)
    assert (t["reader"], t["serial"], t["label"]) == (tok.reader, tok.serial, tok.label)
    assert (t["pin_min"], t["pin_max"], t["tries_left"], t["locked"]) == (4, 16, None, False)
    assert "login_required" in t["flags"]


def test_tokens_human_japanese_and_english(trayd_env, epass2003):
    tok = epass2003()
    r = run_trayd("tokens", env=trayd_env)
    assert r.returncode == 0, r.stderr
    assert "シリアル番号" in r.stdout and tok.serial in r.stdout and "PIN の最小長" in r.stdout and "未ログイン" in r.stdout
    r = run_trayd("--language", "en", "tokens", env=trayd_env)
    assert "Serial number" in r.stdout and "シリアル" not in r.stdout


def test_no_token(trayd_env):
    r = run_trayd("tokens", "--json", env=trayd_env)
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = run_trayd("tokens", env=trayd_env)
    assert "トークン" in r.stdout
    r = run_trayd("certs", env=trayd_env)
    assert r.returncode == 3 and "トークン" in r.stderr


def test_certs_json_contract(trayd_env, epass2003):
    tok = epass2003()
    r = run_trayd("certs", "--json", env=trayd_env)
    assert r.returncode == 0, r.stderr
    certs = json.loads(r.stdout)
    assert [c["id"] for c in certs] == ["01", "02"]
    user = certs[0]
    assert CONTRACT_CERT <= set(user)
    assert user["token_serial"] == tok.serial and user["readable"] is True
    assert user["certificate_id"] == "ES0123456789AB"
    assert "O=テスト株式会社" in user["subject"]  # Japanese UTF8String intact
    assert user["serial_hex"] == "9F0123456789ABCDEF0123456789ABCD"
    assert user["not_after"].endswith("Z") and user["key_type"] == "RSA" and user["key_bits"] == 2048
    assert certs[1]["is_ca"] is True and certs[1]["self_signed"] is True


def test_certs_human_output_follows_the_manual(trayd_env, epass2003):
    epass2003()
    r = run_trayd("certs", env=trayd_env)
    assert r.returncode == 0, r.stderr
    for words in ("シリアル番号", "有効期間の開始", "有効期間の終了", "証明書 ID", "ES0123456789AB",
                  "9F0123456789ABCDEF0123456789ABCD"):
        assert words in r.stdout


def test_two_tokens_need_a_choice(trayd_env, epass2003):
    a = epass2003(slot=0)
    b = epass2003(slot=1, serial="1122334455667788", label="SECOND")
    r = run_trayd("tokens", "--json", env=trayd_env)
    assert {t["serial"] for t in json.loads(r.stdout)} == {a.serial, b.serial}
    r = run_trayd("certs", "--json", "--token", b.serial, env=trayd_env)
    assert r.returncode == 0 and {c["token_serial"] for c in json.loads(r.stdout)} == {b.serial}
    r = run_trayd("certs", "--json", env=trayd_env)
    assert {c["token_serial"] for c in json.loads(r.stdout)} == {a.serial, b.serial}
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input="12345678\n")
    assert r.returncode == 3 and "--token" in r.stderr
    r = run_trayd("certs", "--token", "0000000000000000", env=trayd_env)
    assert r.returncode == 3 and "0000000000000000" in r.stderr


def test_garbage_certificate_objects(trayd_env, epass2003, pki):
    from test_token_service import odd_certificate

    epass2003(garbage_cert=True, extra_certs=[("Odd", odd_certificate(pki.user_der))])
    r = run_trayd("certs", "--json", env=trayd_env)
    assert r.returncode == 0, r.stderr
    certs = json.loads(r.stdout)
    assert [c["id"] for c in certs if c["readable"]] == ["01", "02"]
    unreadable = [c for c in certs if not c["readable"]]
    assert [c["id"] for c in unreadable] == ["03"] and all(c["error"] for c in unreadable)
    r = run_trayd("certs", env=trayd_env)
    assert r.returncode == 0 and "ES0123456789AB" in r.stdout
    assert "読み取れない証明書オブジェクト" in r.stdout


def test_pcscd_down_is_not_reported_as_no_token(trayd_env, pcscd_up):
    pcscd_up.stop()
    try:
        for args in (("tokens", "--json"), ("certs",), ("login", "--pin-stdin")):
            r = run_trayd(*args, env=trayd_env, input="12345678\n")
            assert r.returncode == 1, (args, r.stderr)
            assert "pcscd" in r.stderr and "Traceback" not in r.stderr
    finally:
        pcscd_up.start()
