"""Certificate summaries (証明書情報) from DER: fields, certificate ID, garbage tolerance."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trayd.core import certificates as C

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def _name(*pairs):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject, issuer, key, signer, *, serial=0x1234, ca=False, days=(-10, 30),
          ku=None, eku=None):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(NOW + dt.timedelta(days=days[0]))
         .not_valid_after(NOW + dt.timedelta(days=days[1]))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ku:
        b = b.add_extension(ku, critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_user_certificate_fields(rsa_key, ec_key):
    root = _name((NameOID.COMMON_NAME, "テスト ルート CA"), (NameOID.ORGANIZATION_NAME, "テスト株式会社"))
    subj = _name((NameOID.COUNTRY_NAME, "JP"), (NameOID.ORGANIZATION_NAME, "テスト株式会社"),
                 (NameOID.COMMON_NAME, "山田 太郎"), (NameOID.SERIAL_NUMBER, "FC00112233"))
    ku = x509.KeyUsage(True, True, True, False, False, False, False, False, False)
    der = _cert(subj, root, ec_key, rsa_key, serial=0x9F01, ku=ku,
                eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    info = C.summarize(der, token_serial="abc", label="User", id_hex="01", now=NOW)
    assert info.readable and info.error is None
    assert info.subject == "serialNumber=FC00112233,CN=山田 太郎,O=テスト株式会社,C=JP"
    assert "テスト ルート CA" in info.issuer
    assert info.serial_hex == "9F01"
    assert info.not_before == "2029-12-22T00:00:00Z" and info.not_after == "2030-01-31T00:00:00Z"
    assert info.days_left == 30
    assert info.certificate_id == "FC00112233"
    assert (info.key_type, info.key_bits) == ("EC", 256)
    assert info.signature_algorithm == "sha256WithRSAEncryption"
    assert info.key_usage == ["digital_signature", "content_commitment", "key_encipherment"]
    assert info.extended_key_usage == ["client_auth"]
    assert info.is_ca is False and info.self_signed is False
    assert len(info.sha1) == 40 and len(info.sha256) == 64 and info.sha256.isupper()
    assert (info.token_serial, info.label, info.id) == ("abc", "User", "01")


def test_self_signed_ca(rsa_key):
    name = _name((NameOID.COMMON_NAME, "Root"))
    info = C.summarize(_cert(name, name, rsa_key, rsa_key, ca=True), now=NOW)
    assert info.is_ca is True and info.self_signed is True
    assert (info.key_type, info.key_bits) == ("RSA", 2048)
    assert info.certificate_id is None


def test_same_names_but_foreign_signature_is_not_self_signed(rsa_key, ec_key):
    name = _name((NameOID.COMMON_NAME, "Same"))
    info = C.summarize(_cert(name, name, ec_key, rsa_key), now=NOW)
    assert info.self_signed is False


def test_expired_certificate_has_negative_days(rsa_key):
    name = _name((NameOID.COMMON_NAME, "Old"))
    info = C.summarize(_cert(name, name, rsa_key, rsa_key, days=(-400, -5)), now=NOW)
    assert info.days_left == -5


@pytest.mark.parametrize("subject, expected", [
    ("CN=ES0123456789AB", "ES0123456789AB"),
    ("OU=Users, CN=Taro ES12AB34", "ES12AB34"),
    ("CN=FC9", "FC9"),
    ("CN=ESTATE agent", None),  # a word, not an ID: no digit
    ("CN=XES12345", None),  # must begin with ES/FC
    ("CN=es12345", None),
    ("", None),
])
def test_certificate_id_from_text(subject, expected):
    assert C.certificate_id_from_text(subject) == expected


def test_certificate_id_prefers_common_name():
    name = _name((NameOID.ORGANIZATIONAL_UNIT_NAME, "FC1111"), (NameOID.COMMON_NAME, "ES2222"))
    assert C.find_certificate_id(name) == "ES2222"


def test_serial_hex_whole_bytes():
    assert C.serial_hex(1) == "01"
    assert C.serial_hex(0xABC) == "0ABC"
    assert C.serial_hex(0x9F0123) == "9F0123"


@pytest.mark.parametrize("blob", [b"", b"\x30\x82\x01\x00" + b"junk" * 20, b"\x00" * 5, None])
def test_garbage_is_unreadable_not_a_crash(blob):
    info = C.summarize(blob, token_serial="t", label="Broken", id_hex="10")
    assert info.readable is False
    assert info.error
    assert info.subject is None and info.certificate_id is None and info.days_left is None
    assert (info.label, info.id) == ("Broken", "10")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(blob):
    info = C.summarize(blob, token_serial="t", label="x", id_hex="01")
    assert isinstance(info.readable, bool)
    if not info.readable:
        assert info.error
    info.to_json()  # always serialisable


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=200))
def test_mutated_certificate_never_crashes(noise, where):
    base = bytearray(_STATIC_DER)
    pos = where % len(base)
    base[pos:pos + len(noise)] = noise
    info = C.summarize(bytes(base))
    assert isinstance(info.readable, bool)


def test_pem_conversion_and_fingerprint(rsa_key):
    name = _name((NameOID.COMMON_NAME, "Root"))
    der = _cert(name, name, rsa_key, rsa_key)
    pem = C.der_to_pem(der)
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER) == der
    fp = C.fingerprint(der)
    assert fp.count(":") == 31 and fp.replace(":", "") == C.summarize(der).sha256


def _static_der() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name((NameOID.COMMON_NAME, "ES0001 static"))
    return _cert(name, name, key, key)


_STATIC_DER = _static_der()
