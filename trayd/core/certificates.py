"""Certificate objects from a token → `CertificateInfo` (the manual's 証明書情報, §4.3).

Why one function with a catch-all: a token can hold anything in CKA_VALUE (a broken
issuance, a foreign object). Whatever the bytes, `summarize()` returns a
`CertificateInfo` — unreadable ones with `readable=False` and the reason — so one bad
object never hides the others or crashes a listing.

The certificate ID (§4.3④) is the alphanumeric beginning with `ES` or `FC` found in the
subject. We require at least one digit in it, so ordinary words in a subject ("ESTATE",
"FCC") are not taken for an ID.
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trayd.core.models import CertificateInfo

_CERT_ID = re.compile(r"(?<![A-Za-z0-9])((?:ES|FC)[A-Za-z0-9]*[0-9][A-Za-z0-9]*)(?![A-Za-z0-9])")

# Where EPPCERT puts the ID is not documented beyond "the subject": look at the most
# likely attributes first, then all others in subject order.
# RFC 4514 names only a few attribute types; these are common in EPPCERT subjects and
# read better than dotted OIDs ("serialNumber=ES…" rather than "2.5.4.5=ES…").
_NAME_OVERRIDES = {NameOID.SERIAL_NUMBER: "serialNumber", NameOID.EMAIL_ADDRESS: "emailAddress",
                   NameOID.USER_ID: "UID"}


def rfc4514(name: x509.Name) -> str:
    """A distinguished name as an RFC 4514 string (UTF8String values left intact)."""
    return name.rfc4514_string(_NAME_OVERRIDES)


_ID_ATTRIBUTE_ORDER = (NameOID.COMMON_NAME, NameOID.SERIAL_NUMBER,
                       NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.USER_ID)

_KEY_USAGE_NAMES = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign",
)

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "server_auth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "client_auth",
    ExtendedKeyUsageOID.CODE_SIGNING: "code_signing",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "email_protection",
    ExtendedKeyUsageOID.TIME_STAMPING: "time_stamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "ocsp_signing",
    ExtendedKeyUsageOID.SMARTCARD_LOGON: "smartcard_logon",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "any",
}


def certificate_id_from_text(text: str) -> str | None:
    m = _CERT_ID.search(text or "")
    return m.group(1) if m else None


def find_certificate_id(subject: x509.Name) -> str | None:
    """The ES…/FC… certificate ID in `subject` (manual §4.3④), or None."""
    attrs = list(subject)
    ordered = [a for oid in _ID_ATTRIBUTE_ORDER for a in attrs if a.oid == oid]
    ordered += [a for a in attrs if a not in ordered]
    for attr in ordered:
        value = attr.value if isinstance(attr.value, str) else ""
        found = certificate_id_from_text(value)
        if found:
            return found
    return None


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def not_before(cert: x509.Certificate) -> datetime:
    """Start of validity, timezone-aware UTC on every cryptography version."""
    try:
        return cert.not_valid_before_utc
    except AttributeError:  # cryptography < 42
        return _utc(cert.not_valid_before)


def not_after(cert: x509.Certificate) -> datetime:
    """End of validity, timezone-aware UTC on every cryptography version."""
    try:
        return cert.not_valid_after_utc
    except AttributeError:
        return _utc(cert.not_valid_after)


def iso_utc(dt: datetime) -> str:
    return _utc(dt).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def serial_hex(serial: int) -> str:
    """Serial number as contiguous upper-case hex, whole bytes (as the manual's 詳細 tab)."""
    if serial < 0:  # non-conforming, but seen in the wild
        serial = -serial
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


def _key_info(cert: x509.Certificate) -> tuple[str | None, int | None]:
    try:
        key = cert.public_key()
    except Exception:  # noqa: BLE001 - unknown key algorithm: still list the certificate
        return None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, None


def _signature_algorithm(cert: x509.Certificate) -> str | None:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    return name if name and name != "Unknown OID" else oid.dotted_string


def extension(cert: x509.Certificate, kind: type) -> object | None:
    """The value of the certificate's extension of class `kind`, or None when absent."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key_usage(cert: x509.Certificate) -> list[str]:
    ku = extension(cert, x509.KeyUsage)
    if ku is None:
        return []
    out = [n for n in _KEY_USAGE_NAMES if getattr(ku, n)]
    if ku.key_agreement:
        if ku.encipher_only:
            out.append("encipher_only")
        if ku.decipher_only:
            out.append("decipher_only")
    return out


def _extended_key_usage(cert: x509.Certificate) -> list[str]:
    eku = extension(cert, x509.ExtendedKeyUsage)
    if eku is None:
        return []
    return [_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku]


def _is_ca(cert: x509.Certificate) -> bool:
    bc = extension(cert, x509.BasicConstraints)
    return bool(bc is not None and bc.ca)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer`'s public key verifies `cert`'s signature.

    RSA and EC are verified by hand so that RSA-PSS works on cryptography versions whose
    `verify_directly_issued_by` does not know it yet."""
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = cert.signature_algorithm_parameters
            if not isinstance(pad, (padding.PKCS1v15, padding.PSS)):
                pad = padding.PKCS1v15()
            key.verify(cert.signature, cert.tbs_certificate_bytes, pad,
                       cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        else:
            cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001 - wrong signature, unsupported algorithm, …
        return False


def self_signed(cert: x509.Certificate) -> bool:
    """Issuer and subject are the same name and the certificate's own key signed it."""
    return cert.subject == cert.issuer and signed_by(cert, cert)


def days_left(not_after: datetime, now: datetime | None = None) -> int:
    """Whole days until `not_after` (negative once expired)."""
    now = now or datetime.now(timezone.utc)
    return int((_utc(not_after) - now).total_seconds() // 86400)


def summarize(der: bytes | None, *, token_serial: str = "", label: str = "", id_hex: str = "",
              now: datetime | None = None) -> CertificateInfo:
    """Everything the CLI and the 証明書情報 window show about one certificate object."""
    info = CertificateInfo(token_serial=token_serial, label=label, id=id_hex, readable=False)
    data = bytes(der or b"")
    if data:
        info.sha1 = hashlib.sha1(data).hexdigest().upper()
        info.sha256 = hashlib.sha256(data).hexdigest().upper()
    try:
        if not data:
            raise ValueError("empty certificate value")
        cert = x509.load_der_x509_certificate(data)
        info.subject = rfc4514(cert.subject)
        info.issuer = rfc4514(cert.issuer)
        info.serial_hex = serial_hex(cert.serial_number)
        nb, na = not_before(cert), not_after(cert)
        info.not_before, info.not_after = iso_utc(nb), iso_utc(na)
        info.days_left = days_left(na, now)
        info.version = cert.version.value + 1
        info.signature_algorithm = _signature_algorithm(cert)
        info.key_type, info.key_bits = _key_info(cert)
        info.certificate_id = find_certificate_id(cert.subject)
        info.key_usage = _key_usage(cert)
        info.extended_key_usage = _extended_key_usage(cert)
        info.is_ca = _is_ca(cert)
        info.self_signed = self_signed(cert)
        info.readable = True
    except Exception as exc:  # noqa: BLE001 - garbage must be listed, never crash
        info.readable = False
        info.error = f"{type(exc).__name__}: {exc}"[:300]
        for name in ("subject", "issuer", "serial_hex", "not_before", "not_after",
                     "days_left", "version", "signature_algorithm", "key_type", "key_bits",
                     "certificate_id", "is_ca", "self_signed"):
            setattr(info, name, None)
        info.key_usage, info.extended_key_usage = [], []
    return info


def der_to_pem(der: bytes) -> bytes:
    """PEM text of a DER certificate (parsed first, so garbage is refused)."""
    cert = x509.load_der_x509_certificate(der)
    return cert.public_bytes(serialization.Encoding.PEM)


def load_der_or_none(der: bytes | None) -> x509.Certificate | None:
    """The parsed certificate, or None for empty or unparseable bytes (views that show
    what they can of a broken object instead of failing)."""
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def colon_hex(hex_upper: str) -> str:
    """"ABCD…" → "AB:CD:…" (how fingerprints are shown to people)."""
    return ":".join(hex_upper[i:i + 2] for i in range(0, len(hex_upper), 2))


def fingerprint(der: bytes, algorithm: str = "sha256") -> str:
    """Colon-separated fingerprint as browsers and Windows show it."""
    return colon_hex(hashlib.new(algorithm, der).hexdigest().upper())


__all__ = ["summarize", "find_certificate_id", "certificate_id_from_text", "der_to_pem",
           "load_der_or_none", "colon_hex", "fingerprint", "serial_hex", "days_left",
           "iso_utc", "not_before", "not_after", "extension", "signed_by", "self_signed"]
