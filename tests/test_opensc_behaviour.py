"""OpenSC by version (trayd/core/opensc_version.py), the rules and the real stack.

The rules are pure logic, tested for every version they distinguish; every real-stack
test takes its expectation from `behaviour()` of the installed OpenSC, so the same test
checks 0.23 on Debian 12 and 0.26 on Debian 13 (`make test-debian13`) and fails on
either if the rule is wrong there.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from rig.fixtures_emulator import OPENSC_PKCS11, pkcs11_tool
from trayd import errors as E
from trayd.core import opensc_version
from trayd.core.opensc_version import behaviour

PIN = "12345678"
WRONG = "87650000"
NEW = "k3Y9wQ2z"
VERIFY = b"\x00\x82\x01\x81"  # the ePass2003 PIN check, as the card sees it (unwrapped)


def test_rules_by_version() -> None:
    v23, v24, v25, v26 = (behaviour(v) for v in ((0, 23, 0), (0, 24, 0), (0, 25, 0), (0, 26, 1)))
    assert v23.token_label("EPPCERT") == "EPPCERT (User PIN)"
    assert v25.token_label("EPPCERT") == "EPPCERT (User PIN)"  # Ubuntu 24.04's 0.25.0~rc1
    assert v26.token_label("EPPCERT") == "EPPCERT"
    assert v26.token_label("EPPCERT", pin_slots=2) == "EPPCERT (User PIN)"
    assert v23.token_label("A:B") == "A:B (User PIN)" and v24.token_label("A:B") == "A.B (User PIN)"
    assert v26.token_label("A:B") == "A.B"
    assert v23.token_label("EPPCERT-ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "EPPCERT-ABCDEFGHIJ... (User PIN)"
    assert v26.token_label("EPPCERT-ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "EPPCERT-ABCDEFGHIJKLMNOPQRSTU..."
    assert v23.token_label("X", pin_label="PIN") == "X"
    assert v23.token_label("", pin_label="User PIN") == "User PIN"
    assert v23.des_needs_legacy_provider and not v24.des_needs_legacy_provider
    assert not v23.set_pin_verifies_old_pin and v24.set_pin_verifies_old_pin
    assert all(b.logout_leaves_card_verified for b in (v23, v24, v25, v26))
    assert opensc_version.parse("0.23.0-0.3+deb12u2") == (0, 23, 0)
    assert opensc_version.parse("OpenSC 0.26.1 [gcc 14.2.0]") == (0, 26, 1)
    assert opensc_version.parse("no version") is None


def test_installed_version_is_the_package_version() -> None:
    """The library's own answer agrees with dpkg's (so the rules follow the real module)."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "opensc-pkcs11"],
                         capture_output=True, text=True, check=True).stdout
    assert opensc_version.installed() == opensc_version.parse(out)


def test_label_on_the_real_module(epass2003, opensc_env) -> None:
    tok = epass2003(label="EPP:CERT")
    assert tok.label == behaviour().token_label("EPP:CERT")
    r = pkcs11_tool("-L", env=opensc_env)
    assert f"token label        : {tok.label}\n" in r.stdout, r.stdout


def test_plain_c_logout_leaves_the_card_verified(epass2003, opensc_env) -> None:
    """The fact behind trayd's logout: C_Logout alone does not end the card's login."""
    tok = epass2003(pin=PIN)
    script = (
        "import pkcs11, sys\n"
        "lib = pkcs11.lib(sys.argv[1])\n"
        "tok = lib.get_slots(token_present=True)[0].get_token()\n"
        "s = tok.open(user_pin=sys.stdin.readline().strip())\n"
        "s.close()\n"  # python-pkcs11 sends C_Logout, then C_CloseSession
        "print('closed', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    p = subprocess.Popen([sys.executable, "-c", script, OPENSC_PKCS11], env=opensc_env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        p.stdin.write(PIN + "\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "closed"
        assert tok.card.verified == behaviour().logout_leaves_card_verified
    finally:
        p.stdin.close()
        p.wait(30)


def test_trayd_logout_leaves_nothing_that_signs(service, epass2003) -> None:
    tok = epass2003(pin=PIN)
    service.login(tok.serial, PIN)
    assert tok.pin_accepted  # (trayd resets the card after its work: coexistence.hand_back)
    service.logout(tok.serial)
    assert not tok.card.verified  # the card wants a new VERIFY before any signature
    assert not service.is_logged_in(tok.serial)
    # The agent's own module: a session without a login cannot sign.
    import pkcs11
    from pkcs11 import Mechanism, ObjectClass

    lib = pkcs11.lib(service.module_path)
    token = lib.get_slots(token_present=True)[0].get_token()
    with token.open() as s:
        keys = list(s.get_objects({pkcs11.Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        for key in keys:
            with pytest.raises(pkcs11.PKCS11Error):
                key.sign(b"x", mechanism=Mechanism.SHA256_RSA_PKCS)
    assert not tok.card.verified
    # and a new login works as before
    service.login(tok.serial, PIN)
    assert tok.pin_accepted and service.is_logged_in(tok.serial)


def _verifies(tok) -> int:
    return sum(1 for c, _ in tok.plain_log if c[:4] == VERIFY and len(c) > 5)


def test_change_pin_wrong_current_pin_costs_exactly_one_try(service, epass2003) -> None:
    tok = epass2003(pin=PIN, max_tries=5)
    before = _verifies(tok)
    with pytest.raises(E.WrongPin):
        service.change_pin(tok.serial, WRONG, NEW)
    assert tok.tries_left == 4 and _verifies(tok) - before == 1
    assert tok.pin_matches(PIN)

    before = _verifies(tok)
    service.change_pin(tok.serial, PIN, NEW)
    assert tok.pin_matches(NEW) and tok.tries_left == 5
    # trayd verifies the old PIN itself; 0.24+ verifies it once more inside C_SetPIN.
    expected = 2 if behaviour().set_pin_verifies_old_pin else 1
    assert _verifies(tok) - before == expected
    assert not tok.card.verified  # change-PIN leaves no login behind either
    tok.note_pin(NEW)
