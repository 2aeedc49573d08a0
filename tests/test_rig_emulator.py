"""The emulator's own features and the OpenSC facts other areas rely on.

Why: fault injection (pull mid-operation), odd labels, broken certificate objects, the
runnable program, and OpenSC 0.23 behaviours that trayd's core must design around
(SM re-authentication when another process binds the token, PIN change semantics,
DES needing OpenSSL's legacy provider) are all checked here against the real stack.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from emulator.epass2003 import opensc_token_label
from trayd.core.opensc_version import behaviour
from rig.fixtures_emulator import OPENSC_PKCS11, card_present, pkcs11_tool, wait_card_state

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not Path(OPENSC_PKCS11).exists(), reason="opensc-pkcs11 missing")


@pytest.fixture
def env(opensc_env) -> dict[str, str]:
    return opensc_env


def test_long_label_is_cut_like_opensc(epass2003, env):
    """The installed OpenSC's rule (tests/test_opensc_behaviour.py has every version's)."""
    tok = epass2003(label="EPPCERT-ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert tok.label == behaviour().token_label("EPPCERT-ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert tok.label.endswith("...") or tok.label.endswith("... (User PIN)")
    r = pkcs11_tool("-L", env=env)
    assert f"token label        : {tok.label}\n" in r.stdout, r.stdout


def test_label_rule_unit():
    assert opensc_token_label("EPPCERT") == behaviour().token_label("EPPCERT")
    assert opensc_token_label("X", pin_label="PIN") == "X"
    assert opensc_token_label("", pin_label="User PIN") == (
        "User PIN" if behaviour().appends_pin_label() else "")


def test_garbage_certificate_is_dropped_by_opensc(epass2003, env):
    tok = epass2003(garbage_cert=True)
    assert len(tok.cert_ids) == 3
    r = pkcs11_tool("-O", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Certificate Object") == 2  # OpenSC silently skips it
    assert "Broken Certificate" not in r.stdout


def test_extra_certificate_objects(epass2003, env, pki):
    extra = (pki / "server.pem").read_bytes()
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    der = x509.load_pem_x509_certificate(extra).public_bytes(Encoding.DER)
    tok = epass2003(extra_certs=[("Server Copy", der)])
    assert tok.cert_ids == ["01", "02", "03"]
    r = pkcs11_tool("-O", env=env)
    assert r.stdout.count("Certificate Object") == 3 and "Server Copy" in r.stdout


def test_pull_on_read_binary_mid_export(epass2003, env, tmp_path):
    tok = epass2003()
    tok.pull_on_read_binary(3)
    r = pkcs11_tool("--read-object", "--type", "cert", "--id", "01", "-o",
                    str(tmp_path / "c.der"), env=env)
    assert r.returncode != 0
    assert tok.pulled.is_set() and not tok.inserted
    wait_card_state(tok.reader, present=False)
    reads = [(c, resp) for c, resp in tok.apdu_log if c[1] == 0xB0]
    assert len(reads) == 3 and reads[-1][1] == b"" and all(x[1] for x in reads[:2])


def test_verify_apdu_shape(epass2003, env):
    """VERIFY = GET CHALLENGE + 00 82 01 81 <8-byte cryptogram>, then the counter query."""
    tok = epass2003(sm="plain")
    assert pkcs11_tool("--login", "--pin", "12345678", "-O", env=env).returncode == 0
    cmds = [c for c, _ in tok.plain_log]
    i = next(k for k, c in enumerate(cmds) if c[:4] == b"\x00\x82\x01\x81" and len(c) == 13)
    assert cmds[i - 1][:4] == b"\x00\x84\x00\x00"
    assert cmds[i + 1][:4] == b"\x00\x84\x00\x00" and cmds[i + 2] == b"\x00\x82\x01\x81"
    assert tok.plain_log[i + 2][1] == b"\x63\xca"
    assert b"12345678" not in b"".join(cmds)


def test_des_without_legacy_provider(epass2003, env, tmp_path):
    """Fact for `doctor`: OpenSC 0.23 on OpenSSL 3 cannot run DES SM without 'legacy'
    (measured: SIGSEGV); 0.24+ loads the provider in its own library context."""
    epass2003(sm="des")
    conf = tmp_path / "default-only.cnf"
    conf.write_text("openssl_conf = openssl_init\n[openssl_init]\nproviders = p\n"
                    "[p]\ndefault = d\n[d]\nactivate = 1\n")
    r = pkcs11_tool("-O", env={**env, "OPENSSL_CONF": str(conf)})
    if behaviour().des_needs_legacy_provider:
        assert r.returncode != 0
    else:
        assert r.returncode == 0 and r.stdout.count("Certificate Object") == 2, r.stderr


P11_SCRIPT = textwrap.dedent("""
    import json, subprocess, sys
    import pkcs11
    from pkcs11 import Mechanism, ObjectClass
    lib = pkcs11.lib(sys.argv[1])
    out = {}
    tok = lib.get_slots(token_present=True)[0].get_token()
    out["label"], out["serial"] = tok.label, tok.serial.decode()
    try:
        tok.open(user_pin="0000")
    except pkcs11.PinIncorrect:
        out["wrong"] = "PinIncorrect"
    with tok.open(rw=True) as s:
        try:
            s.set_pin("12345678", "22222222")
            out["set_pin_no_login"] = "changed"
            s.set_pin("22222222", "12345678")  # back
        except pkcs11.UserNotLoggedIn:
            out["set_pin_no_login"] = "UserNotLoggedIn"
    with tok.open(rw=True, user_pin="12345678") as s:
        key = s.get_key(object_class=ObjectClass.PRIVATE_KEY)
        out["sig1"] = len(key.sign(b"x", mechanism=Mechanism.SHA256_RSA_PKCS))
        subprocess.run(["pkcs11-tool", "--module", sys.argv[1], "-O"], capture_output=True)
        try:
            out["sig_after_other_process"] = len(key.sign(b"x", mechanism=Mechanism.SHA256_RSA_PKCS))
        except pkcs11.PKCS11Error as exc:
            out["sig_after_other_process"] = type(exc).__name__
    lib.reinitialize()  # a new card handle: the PIN-change fact without the collision
    tok = lib.get_slots(token_present=True)[0].get_token()
    with tok.open(rw=True, user_pin="12345678") as s:
        try:
            s.set_pin("99999999", "22222222")  # wrong old PIN while logged in
            out["set_pin_wrong_old"] = "accepted"
        except pkcs11.PinIncorrect:
            out["set_pin_wrong_old"] = "PinIncorrect"
    print(json.dumps(out))
""")


def test_python_pkcs11_facts(epass2003, env):
    """Facts for trayd's core (core/opensc_version.py), through python-pkcs11 in a child:

    - a second process binding the token re-runs SM mutual authentication, which ends the
      first process's card login; OpenSC 0.23 recovers (6988 -> re-auth, 6982 -> re-VERIFY
      from its PIN cache) so a signature in the first session still works; 0.24+ fails it;
    - OpenSC 0.23 refuses C_SetPIN without a login, and while logged in never checks the
      old PIN (it sends only the new one); 0.24+ verifies it (one try on the card), with or
      without a login.
    """
    import json
    b = behaviour()
    tok = epass2003(max_tries=10)
    r = subprocess.run([sys.executable, "-c", P11_SCRIPT, OPENSC_PKCS11], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["label"] == tok.label and out["serial"] == tok.serial
    assert out["wrong"] == "PinIncorrect"
    # 0.24+ verifies the old PIN inside C_SetPIN, so it needs no login first.
    assert out["set_pin_no_login"] == ("changed" if b.set_pin_verifies_old_pin
                                       else "UserNotLoggedIn")
    assert out["sig1"] == 256
    assert any(resp[-2:] == b"\x69\x88" for _, resp in tok.apdu_log)  # the collision
    if b.recovers_from_sm_collision:
        assert out["sig_after_other_process"] == 256
    else:
        assert out["sig_after_other_process"] != 256, out
    if b.set_pin_verifies_old_pin:
        assert out["set_pin_wrong_old"] == "PinIncorrect" and tok.pin_matches("12345678")
        assert tok.tries_left == 9  # the "0000" above was reset by the right PIN; this one counts
    else:
        assert out["set_pin_wrong_old"] == "accepted" and tok.pin_matches("22222222")


def test_runnable_emulator_holds_then_removes(pcscd_up, pki, env):
    port = pcscd_up.port(1)
    p = subprocess.Popen([sys.executable, str(ROOT / "tests/emulator/epass2003.py"),
                          "--pki", os.fspath(pki), "--port", str(port), "--slot", "1",
                          "--sm", "plain", "--serial", "00112233445566ff", "--label", "CLI",
                          "--hold", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        wait_card_state("Virtual PCD 00 01", present=True, timeout=15)
        r = pkcs11_tool("-L", env=env)
        assert f"token label        : {opensc_token_label('CLI')}\n" in r.stdout
        assert "00112233445566ff" in r.stdout
    finally:
        p.terminate()
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert "ePass2003 inserted" in out and "ePass2003 removed" in out
    wait_card_state("Virtual PCD 00 01", present=False)
    assert card_present("Virtual PCD 00 01") is False


def test_runnable_emulator_rejects_bad_serial(pki):
    r = subprocess.run([sys.executable, str(ROOT / "tests/emulator/epass2003.py"),
                        "--pki", os.fspath(pki), "--serial", "xyz"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--serial" in r.stderr


def test_hold_removes_token_by_itself(pcscd_up, pki):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(ROOT / "tests/emulator/epass2003.py"),
                        "--pki", os.fspath(pki), "--port", str(pcscd_up.port(1)),
                        "--hold", "1"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "removed" in r.stdout
    assert time.monotonic() - t0 < 20
    wait_card_state("Virtual PCD 00 01", present=False)
