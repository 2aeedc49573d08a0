"""An EPPCERT-like test PKI: root CA, the token's user certificate, a TLS server certificate.

Why cached on disk: RSA-2048 generation takes seconds on a shared 2-core machine, so a
directory, once filled, is reused by later runs (the emulator's `--pki DIR` and the
`pki` fixture). Stable file names: root.pem/der/key, user.pem/der/key, server.pem/key.
The user certificate looks like an EPPCERT one: a certificate ID beginning with "ES" in
the subject (CN and serialNumber), a Japanese UTF8String organisation, and a 16-byte
serial number with the high bit set (the CLI and UI must show such serials correctly).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_ID = "ES0123456789AB"
ORG_JA = "テスト株式会社"
ROOT_CN = "EPPCERT Test Root CA"
USER_SERIAL = int("9F" + "0123456789ABCDEF0123456789ABCD", 16)  # 16 bytes, high bit set
FILES = ("root.pem", "root.der", "root.key", "user.pem", "user.der", "user.key",
         "server.pem", "server.key")


@dataclass
class Pki:
    """Paths and loaded objects of one PKI directory."""

    dir: Path

    def path(self, name: str) -> Path:
        return self.dir / name

    def __truediv__(self, name: str) -> Path:  # pki / "root.pem", like a Path
        return self.dir / name

    def __fspath__(self) -> str:
        return str(self.dir)

    @property
    def root_der(self) -> bytes:
        return (self.dir / "root.der").read_bytes()

    @property
    def user_der(self) -> bytes:
        return (self.dir / "user.der").read_bytes()

    @property
    def user_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key((self.dir / "user.key").read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    @property
    def user_cert(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.user_der)

    @property
    def root_cert(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.root_der)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    if private:
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)  # atomic: concurrent creators never see half a file


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_pki(directory: str | os.PathLike[str]) -> Pki:
    """Create the PKI in `directory` unless every file is already there; return it."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if all((d / f).exists() for f in FILES):
        return Pki(d)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    start = now - dt.timedelta(days=1)

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG_JA),
        x509.NameAttribute(NameOID.COMMON_NAME, ROOT_CN),
    ])
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (x509.CertificateBuilder()
            .subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(root_ski, critical=False)
            .sign(root_key, hashes.SHA256()))
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski)

    user_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    user_name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG_JA),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "EPPCERT"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, CERT_ID),
        x509.NameAttribute(NameOID.COMMON_NAME, CERT_ID),
    ])
    user = (x509.CertificateBuilder()
            .subject_name(user_name).issuer_name(root_name)
            .public_key(user_key.public_key())
            .serial_number(USER_SERIAL)
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, True, True, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(aki, critical=False)
            .sign(root_key, hashes.SHA256()))

    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(root_name)
              .public_key(server_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(start + dt.timedelta(days=730))
              .add_extension(x509.SubjectAlternativeName([
                  x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                  x509.DNSName("localhost")]), critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                             critical=False)
              .add_extension(aki, critical=False)
              .sign(root_key, hashes.SHA256()))

    pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
    _write(d / "root.key", _key_pem(root_key), private=True)
    _write(d / "user.key", _key_pem(user_key), private=True)
    _write(d / "server.key", _key_pem(server_key), private=True)
    _write(d / "root.der", root.public_bytes(der))
    _write(d / "user.der", user.public_bytes(der))
    _write(d / "server.pem", server.public_bytes(pem))
    _write(d / "user.pem", user.public_bytes(pem))
    _write(d / "root.pem", root.public_bytes(pem))  # last: its presence marks "complete"
    return Pki(d)


def default_cache_dir() -> Path:
    """Where the runnable emulator keeps its PKI when no --pki is given."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trayd-test-pki"
