"""Rig self-tests: the virtual ePass2003 through the real pcscd, OpenSC and NSS.

Why: every trayd test that touches a token trusts this emulator; these tests prove the
real OpenSC 0.23 driver and `opensc-pkcs11.so` accept it in each SM mode (AES, DES,
plain), that PIN counting / locking / change and RSA signing behave like the card, and
that a browser's TLS stack (NSS tstclnt) can authenticate with the token's certificate.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from rig.fixtures_emulator import OPENSC_PKCS11, pkcs11_tool, wait_card_state
from rig.tls import tls_client_auth
from trayd.core.opensc_version import behaviour

pytestmark = pytest.mark.skipif(not Path(OPENSC_PKCS11).exists(), reason="opensc-pkcs11 missing")


@pytest.fixture
def env(opensc_env) -> dict[str, str]:
    return opensc_env


def _ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, f"rc={r.returncode}\nstdout:{r.stdout}\nstderr:{r.stderr}"
    return r.stdout


def test_opensc_tool_names_card_epass2003(epass2003, env):
    tok = epass2003()
    r = subprocess.run(["opensc-tool", "--reader", tok.reader, "-n"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert _ok(r).strip().splitlines()[-1] == "epass2003"
    # the driver negotiated AES secure messaging (INITIALIZE UPDATE, EXTERNAL AUTHENTICATE)
    assert any(c[:2] == b"\x80\x50" for c, _ in tok.apdu_log)
    assert any(c[:2] == b"\x84\x82" and r[-2:] == b"\x90\x00" for c, r in tok.apdu_log)


def test_pkcs11_lists_token_and_both_certificates(epass2003, env, tmp_path):
    tok = epass2003(serial="0123456789abcdef", label="EPPCERT")
    out = _ok(pkcs11_tool("-L", env=env))
    assert f"token label        : {tok.label}" in out
    assert tok.label == behaviour().token_label("EPPCERT")
    assert f"serial num         : {tok.serial}" in out
    assert tok.serial == "0123456789abcdef"
    assert "token manufacturer : EnterSafe" in out

    t0 = time.monotonic()
    out = _ok(pkcs11_tool("-O", env=env))
    listing = time.monotonic() - t0
    assert out.count("Certificate Object; type = X.509 cert") == 2
    assert "label:      User Certificate" in out and "label:      Root CA Certificate" in out
    assert "ES0123456789AB" in out
    assert "serial:     9F0123456789ABCDEF0123456789ABCD" in out
    assert re.findall(r"ID:\s+(\w+)", out)[::2] == tok.cert_ids
    assert "Private Key Object" not in out  # private objects need a login
    assert listing < 30

    for cid, der in zip(tok.cert_ids, (tok.user_cert_der, tok.root_cert_der)):
        dest = tmp_path / f"{cid}.der"
        _ok(pkcs11_tool("--read-object", "--type", "cert", "--id", cid, "-o", str(dest),
                        env=env))
        assert dest.read_bytes() == der


def test_login_sign_verify_aes(epass2003, env, pki, tmp_path):
    tok = epass2003(sm="aes")
    msg = tmp_path / "msg.txt"
    msg.write_bytes(b"trayd rig self-test\n")
    sig = tmp_path / "msg.sig"
    out = _ok(pkcs11_tool("--login", "--pin", "12345678", "-O", env=env))
    assert "Private Key Object; RSA" in out and "sign" in out
    _ok(pkcs11_tool("--login", "--pin", "12345678", "--sign", "-m", "SHA256-RSA-PKCS",
                    "--id", "01", "-i", str(msg), "-o", str(sig), env=env))
    assert tok.card.signatures == 1
    pub = tmp_path / "pub.pem"
    pub.write_bytes(x509.load_der_x509_certificate(tok.user_cert_der).public_key()
                    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature",
                        str(sig), str(msg)], capture_output=True, text=True, timeout=30)
    assert v.returncode == 0 and "Verified OK" in v.stdout, v.stdout + v.stderr
    # every command after mutual authentication went through SM (CLA 0C)
    after = [c for c, _ in tok.apdu_log if c[0] not in (0x80, 0x84) and c[:4] != b"\x00\xca\x01\x86"]
    assert after and all(c[0] & 0x0C == 0x0C for c in after)


def test_wrong_pins_count_down_then_lock_plain(epass2003, env):
    tok = epass2003(sm="plain", max_tries=10)
    for i in range(9):
        r = pkcs11_tool("--login", "--pin", "0000", "-O", env=env)
        assert r.returncode != 0
        assert "CKR_PIN_INCORRECT" in r.stderr + r.stdout, r.stderr
        assert tok.tries_left == 9 - i
    r = pkcs11_tool("--login", "--pin", "0000", "-O", env=env)
    assert "CKR_PIN_LOCKED" in r.stderr + r.stdout, r.stderr
    assert tok.locked and tok.tries_left == 0
    r = pkcs11_tool("--login", "--pin", "12345678", "-O", env=env)
    assert "CKR_PIN_LOCKED" in r.stderr + r.stdout
    # plain mode: no secure messaging at all
    assert not any(c[0] & 0x0C for c, _ in tok.apdu_log)


def test_right_pin_resets_counter(epass2003, env):
    tok = epass2003(max_tries=3)
    r = pkcs11_tool("--login", "--pin", "9999", "-O", env=env)
    assert "CKR_PIN_INCORRECT" in r.stderr and tok.tries_left == 2
    _ok(pkcs11_tool("--login", "--pin", "12345678", "-O", env=env))
    assert tok.tries_left == 3


def test_change_pin_des(epass2003, env, openssl_legacy_env):
    """DES SM: OpenSC 0.23 + OpenSSL 3 need the legacy provider (single DES)."""
    tok = epass2003(sm="des")
    env = {**env, **openssl_legacy_env}
    out = _ok(pkcs11_tool("--login", "--pin", "12345678", "--change-pin",
                          "--new-pin", "87654321", env=env))
    assert "PIN successfully changed" in out
    assert tok.pin_matches("87654321") and not tok.pin_matches("12345678")
    tok.note_pin("87654321")
    assert tok.pin == "87654321"
    r = pkcs11_tool("--login", "--pin", "12345678", "-O", env=env)
    assert "CKR_PIN_INCORRECT" in r.stderr
    _ok(pkcs11_tool("--login", "--pin", "87654321", "-O", env=env))
    assert any(c[0] == 0x8C and c[1] == 0xE5 for c, _ in tok.apdu_log)  # 80 E5, SM-wrapped


def test_remove_and_pull_mid_login(epass2003, env, pcscd_up):
    tok = epass2003()
    tok.pull_on_ins(0x82)  # the token vanishes at the PIN verification
    r = pkcs11_tool("--login", "--pin", "00000000", "-O", env=env)
    assert r.returncode != 0
    assert tok.pulled.is_set() and not tok.inserted
    wait_card_state(tok.reader, present=False)
    assert tok.tries_left == 10  # the unanswered VERIFY did not count
    tok.insert()
    wait_card_state(tok.reader, present=True)
    _ok(pkcs11_tool("--login", "--pin", "12345678", "-O", env=env))


def test_two_tokens_in_two_readers(epass2003, env):
    a = epass2003(slot=0, serial="00000000000000a0", label="TOKEN A")
    b = epass2003(slot=1, serial="00000000000000b0", label="TOKEN B", sm="plain")
    out = _ok(pkcs11_tool("-L", env=env))
    assert a.label in out and b.label in out and a.serial in out and b.serial in out
    assert b.reader == "Virtual PCD 00 01"


def test_garbage_certificate_object_does_not_hide_the_good_ones(epass2003, env):
    epass2003(garbage_cert=True)
    r = pkcs11_tool("-O", env=env)
    out = r.stdout
    assert "label:      User Certificate" in out, r.stderr


def test_tstclnt_client_auth_through_nss(epass2003, env, pki, tmp_path):
    """A browser's path: NSS + modutil-registered OpenSC, TLS client auth to s_server."""
    for tool in ("tstclnt", "modutil", "certutil", "openssl"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")
    tok = epass2003()
    db = Path(env["HOME"]) / ".pki" / "nssdb"
    db.mkdir(parents=True)
    dbarg = f"sql:{db}"
    _ok(subprocess.run(["certutil", "-N", "-d", dbarg, "--empty-password"], env=env,
                       capture_output=True, text=True, timeout=60))
    _ok(subprocess.run(["modutil", "-dbdir", dbarg, "-add", "OpenSC", "-libfile",
                        OPENSC_PKCS11, "-force"], env=env, capture_output=True, text=True,
                       timeout=60))
    _ok(subprocess.run(["certutil", "-A", "-d", dbarg, "-n", "EPPCERT Test Root", "-t",
                        "C,,", "-i", str(pki / "root.pem")], env=env, capture_output=True,
                       text=True, timeout=60))
    r, srv_out = tls_client_auth(env, db, f"{tok.label}:User Certificate", pki, tmp_path)
    assert r.returncode == 0, f"tstclnt: {r.stdout}\n{r.stderr}\nserver: {srv_out}"
    assert "ES0123456789AB" in r.stdout + srv_out, r.stdout
    assert tok.card.signatures >= 1
