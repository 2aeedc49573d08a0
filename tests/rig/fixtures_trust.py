"""Certificates for the trust / NSS tests, generated per test session with `cryptography`.

Why our own: the trust logic must be tested on shapes the emulator's PKI does not have
(a root without Basic Constraints, an intermediate, an end-entity certificate offered as
a root). `own_pki` is a directory with DER + PEM files and a `certs` dict of bytes.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str, org: str = "trayd test") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject: str, key, issuer_name: x509.Name | None = None, issuer_key=None,
              ca: bool | None = False, issuer_ski_key=None, san_ip: str | None = None,
              server: bool = False, client: bool = False, days: int = 365) -> x509.Certificate:
    """One certificate. `ca=None` leaves Basic Constraints out (old v1-style roots)."""
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject))
               .issuer_name(issuer_name or _name(subject))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                        critical=True)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if issuer_ski_key is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_ski_key.public_key()),
            critical=False)
    if san_ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(san_ip))]), critical=False)
    ekus = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
           ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@dataclass
class OwnPki:
    dir: Path
    der: dict[str, bytes] = field(default_factory=dict)

    def path(self, name: str, ext: str = "pem") -> Path:
        return self.dir / f"{name}.{ext}"


@pytest.fixture(scope="session")
def own_pki(tmp_path_factory: pytest.TempPathFactory) -> OwnPki:
    """root (CA) → intermediate (CA) → user (client); root → server (IP SAN 127.0.0.1);
    a self-signed root without Basic Constraints ("v1root"); an unrelated root
    ("otherroot"); "leaf_selfsigned_noca": self-signed with cA=FALSE."""
    d = tmp_path_factory.mktemp("own_pki")
    pki = OwnPki(d)
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    user_key = ec.generate_private_key(ec.SECP256R1())
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    v1_key = ec.generate_private_key(ec.SECP256R1())
    other_key = ec.generate_private_key(ec.SECP256R1())
    root = make_cert("trayd Test Root CA", root_key, ca=True)
    inter = make_cert("trayd Test Intermediate CA", inter_key, root.subject, root_key,
                      ca=True, issuer_ski_key=root_key)
    user = make_cert("ES0123456789 Test User", user_key, inter.subject, inter_key,
                     ca=False, issuer_ski_key=inter_key, client=True)
    direct_user = make_cert("FC0000000001 Direct User", user_key, root.subject, root_key,
                            ca=False, issuer_ski_key=root_key, client=True)
    server = make_cert("127.0.0.1", server_key, root.subject, root_key, ca=False,
                       issuer_ski_key=root_key, san_ip="127.0.0.1", server=True)
    v1root = make_cert("trayd v1 Root", v1_key, ca=None)
    otherroot = make_cert("trayd Other Root", other_key, ca=True)
    noca = make_cert("Self Signed Leaf", other_key, ca=False)
    certs = {"root": root, "inter": inter, "user": user, "direct_user": direct_user,
             "server": server, "v1root": v1root, "otherroot": otherroot,
             "leaf_selfsigned_noca": noca}
    for name, cert in certs.items():
        der = cert.public_bytes(serialization.Encoding.DER)
        pki.der[name] = der
        (d / f"{name}.der").write_bytes(der)
        (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    (d / "server-chain.pem").write_bytes((d / "server.pem").read_bytes())
    return pki
