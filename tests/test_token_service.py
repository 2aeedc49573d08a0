"""LocalTokenService on the real stack: pcscd + vpcd + emulated ePass2003 + OpenSC's module."""
from __future__ import annotations

import threading

import pytest

from trayd import errors as E
from trayd.config import Config
from trayd.core.token_service import LocalTokenService, reader_matches

PIN = "12345678"


def test_token_info_matches_the_token(service, epass2003):
    tok = epass2003()
    [t] = service.list_tokens()
    assert (t.reader, t.serial, t.label) == (tok.reader, tok.serial, tok.label)
    assert t.manufacturer == "EnterSafe"
    assert (t.pin_min, t.pin_max) == (4, 16)
    assert "login_required" in t.flags and "user_pin_initialized" in t.flags
    assert t.tries_left is None and t.locked is False and t.logged_in is False
    assert service.token_in_reader(tok.reader).serial == tok.serial
    assert service.token_in_reader("Virtual PCD 00 01") is None
    assert service.token_info().serial == tok.serial
    assert service.token_info(tok.serial.upper()).serial == tok.serial  # case-insensitive


def test_certificates_with_full_details(service, epass2003, pki):
    tok = epass2003()
    certs = service.list_certificates(tok.serial)
    assert [c.id for c in certs] == ["01", "02"]
    user, root = certs
    assert user.readable and user.certificate_id == "ES0123456789AB"
    assert "O=テスト株式会社" in user.subject
    assert user.serial_hex == "9F0123456789ABCDEF0123456789ABCD"
    assert user.is_ca is False and root.is_ca is True and root.self_signed is True
    assert service.certificate_der(tok.serial, "01") == tok.user_cert_der
    assert service.certificate_der(tok.serial, "02") == tok.root_cert_der
    with pytest.raises(E.NoSuchCertificate):
        service.certificate_der(tok.serial, "7f")
    with pytest.raises(E.NoSuchCertificate):
        service.certificate_der(tok.serial, "zz")
    with pytest.raises(E.NoSuchToken) as e:
        service.list_certificates("ffffffffffffffff")
    assert e.value.present == 1 and e.value.exit_code == 3


def odd_certificate(der: bytes) -> bytes:
    """The certificate claiming X.509 v4: OpenSC's parser lists it, `cryptography` refuses."""
    odd = bytearray(der)
    i = odd.index(bytes.fromhex("a003020102"))
    odd[i + 4] = 0x03
    return bytes(odd)


def test_garbage_certificate_objects_do_not_hide_the_others(service, epass2003, pki, tmp_path):
    tok = epass2003(garbage_cert=True, extra_certs=[("Odd", odd_certificate(pki.user_der))])
    certs = {c.id: c for c in service.list_certificates(tok.serial)}
    assert certs["01"].readable and certs["02"].readable
    odd = certs["03"]  # listed by OpenSC, unreadable for us: shown as such, no crash
    assert odd.readable is False and "version" in odd.error and odd.label == "Odd"
    assert odd.subject is None and odd.sha256
    # The undecodable object: OpenSC drops it; if it is ever listed it must be unreadable.
    assert "10" not in certs or certs["10"].readable is False
    with pytest.raises(E.TokenError) as e:
        service.export_certificate(tok.serial, "03", tmp_path / "odd.cer")
    assert e.value.code == "certificate_unreadable" and not (tmp_path / "odd.cer").exists()


def test_two_tokens_at_once(service, epass2003):
    a = epass2003(slot=0)
    b = epass2003(slot=1, serial="1122334455667788", label="SECOND", pin="87654321", sm="plain")
    tokens = {t.serial: t for t in service.list_tokens()}
    assert set(tokens) == {a.serial, b.serial}
    assert tokens[b.serial].reader == b.reader and tokens[a.serial].reader == a.reader
    with pytest.raises(E.NoSuchToken) as e:
        service.token_info(None)
    assert e.value.present == 2
    assert {c.token_serial for c in service.list_certificates()} == {a.serial, b.serial}
    service.login(b.serial, "87654321")
    assert b.pin_accepted and not a.pin_accepted
    with pytest.raises(E.WrongPin):
        service.login(a.serial, "87654321")
    assert service.pin_failures(a.serial) == 1 and service.pin_failures(b.serial) == 0
    assert service.is_logged_in(b.serial)


def test_login_logout_and_state_events(service, epass2003):
    tok = epass2003()
    info = service.login(tok.serial, PIN)
    assert info.logged_in and tok.pin_accepted
    assert service.list_tokens()[0].logged_in is True
    service.logout(tok.serial)
    assert service.list_tokens()[0].logged_in is False
    assert service.states == [(tok.serial, True, False), (tok.serial, False, False)]


def test_wrong_pin_counts_and_success_resets(service, epass2003):
    tok = epass2003()
    for n in (1, 2):
        with pytest.raises(E.WrongPin) as e:
            service.login(tok.serial, "00000000")
        assert (e.value.failures_seen, e.value.max_tries, e.value.tries_left) == (n, 10, None)
    assert tok.tries_left == 8
    service.login(tok.serial, PIN)
    assert service.pin_failures(tok.serial) == 0 and tok.tries_left == 10


def test_length_refused_before_sending(service, epass2003):
    tok = epass2003()
    before = len(tok.plain_log)
    for pin in ("", "123", "1" * 17):
        with pytest.raises(E.PinPolicyError):
            service.login(tok.serial, pin)
    assert not any(cmd[1] == 0x82 for cmd, _ in tok.plain_log[before:])
    assert tok.tries_left == 10 and service.pin_failures(tok.serial) == 0


def test_lock_sequence(service, epass2003):
    tok = epass2003(max_tries=10)
    for n in range(1, 10):
        with pytest.raises(E.WrongPin) as e:
            service.login(tok.serial, "99999999")
        assert e.value.failures_seen == n
    assert tok.tries_left == 1
    with pytest.raises(E.ConfirmationRequired) as e:
        service.login(tok.serial, "99999999")  # the try that could lock: not sent
    assert e.value.reason == "last_try" and tok.tries_left == 1
    with pytest.raises(E.PinLocked):
        service.login(tok.serial, "99999999", confirm_last_try=True)
    assert tok.locked
    assert service.list_tokens()[0].locked is True
    with pytest.raises(E.PinLocked):  # even the right PIN
        service.login(tok.serial, PIN, confirm_last_try=True)
    assert (tok.serial, False, True) in service.states


def test_change_pin(service, epass2003):
    tok = epass2003()
    with pytest.raises(E.ConfirmationRequired) as e:
        service.change_pin(tok.serial, PIN, "11111111")
    assert e.value.reason == "weak_pin" and tok.pin_matches(PIN)
    with pytest.raises(E.PinPolicyError):
        service.change_pin(tok.serial, PIN, PIN, confirm_weak=True)
    with pytest.raises(E.WrongPin):
        service.change_pin(tok.serial, "00000000", "Xk7#pQ2m")
    assert tok.pin_matches(PIN) and service.pin_failures(tok.serial) == 1
    service.change_pin(tok.serial, PIN, "Xk7#pQ2m")
    assert tok.pin_matches("Xk7#pQ2m") and service.pin_failures(tok.serial) == 0
    service.login(tok.serial, "Xk7#pQ2m")


def test_change_pin_verifies_current_pin_even_when_logged_in(service, epass2003):
    tok = epass2003()
    service.login(tok.serial, PIN)
    with pytest.raises(E.WrongPin):
        service.change_pin(tok.serial, "00000000", "Xk7#pQ2m")
    assert tok.pin_matches(PIN)


def test_token_pulled_during_login(service, epass2003):
    tok = epass2003()
    service.list_tokens()
    tok.pull_on(lambda apdu: apdu[1] == 0x82 and apdu[2] == 0x01)  # the PIN VERIFY
    with pytest.raises(E.TokenRemoved):
        service.login(tok.serial, PIN)
    assert tok.pulled.is_set()
    assert service.pin_failures(tok.serial) == 0  # not counted as a wrong PIN
    assert service.list_tokens() == []
    tok.insert()
    assert service.login(tok.serial, PIN).logged_in


def test_token_pulled_during_pin_change(service, epass2003):
    tok = epass2003()
    service.list_tokens()
    tok.pull_on_ins(0xE5)
    with pytest.raises(E.TokenRemoved) as e:
        service.change_pin(tok.serial, PIN, "Xk7#pQ2m")
    assert tok.pulled.is_set()
    assert e.value.operation == "change_pin"
    # The command reached the card before it vanished: the PIN is one of the two, and
    # the token works again with whichever it is.
    assert tok.pin_matches(PIN) or tok.pin_matches("Xk7#pQ2m")
    tok.insert()
    service.login(tok.serial, PIN if tok.pin_matches(PIN) else "Xk7#pQ2m")


def test_token_pulled_during_export(service, epass2003, tmp_path):
    # OpenSC reads the certificates while binding a fresh token: vanish in the middle.
    tok = epass2003(insert=False)
    tok.pull_on_read_binary(6)
    tok.insert()
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "user.cer"
    with pytest.raises((E.TokenRemoved, E.NoSuchToken)):
        service.export_certificate(tok.serial, "01", out)
    assert tok.pulled.is_set()
    assert list(outdir.iterdir()) == []  # no file, no temporary left behind
    tok.insert()
    service.export_certificate(tok.serial, "01", out)
    assert out.read_bytes() == tok.user_cert_der


def test_removal_drops_login(service, epass2003):
    tok = epass2003()
    service.login(tok.serial, PIN)
    tok.remove()
    service.reader_removed(tok.reader)
    assert not service.is_logged_in(tok.serial)
    assert service.states[-1] == (tok.serial, False, False)


def test_calls_from_many_threads_are_serialised(service, epass2003):
    tok = epass2003()
    results, errors = [], []

    def work():
        try:
            results.append(len(service.list_certificates(tok.serial)))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and results == [2] * 6


def test_missing_module_is_a_typed_error(home):
    svc = LocalTokenService(Config(pkcs11_module="/nonexistent/opensc-pkcs11.so"))
    try:
        with pytest.raises(E.Pkcs11ModuleError) as e:
            svc.list_tokens()
        assert e.value.path == "/nonexistent/opensc-pkcs11.so"
    finally:
        svc.close()


def test_reader_matching():
    assert reader_matches("Virtual PCD 00 00", "Virtual PCD 00 00   ")
    assert not reader_matches("Virtual PCD 00 00", "Virtual PCD 00 01")
    long = "Feitian Technologies Co., Ltd. FT ePass2003Auto [FT ePass2003Auto] (0A1B2C3D4E) 00 00"
    assert reader_matches(long, long[:64])
    assert not reader_matches("", "x")
