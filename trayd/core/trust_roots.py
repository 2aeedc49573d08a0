"""Which certificates may become trust anchors, and where a token's root comes from.

Why pure logic: the decision "is this a CA certificate?" guards the user's trust store,
so it must be testable on its own and identical for the first-run prompt, the CLI and
the tray. A certificate qualifies when
- its Basic Constraints say CA (`cA=TRUE`), or
- it is a self-signed root without Basic Constraints (old v1 roots), or
- it is the issuer of the token's user certificate (its key verifies the signature)
  and its Basic Constraints do not say the opposite.
Anything else is refused with the reason (`NotCertificateAuthority`).

Tokens that carry only the user certificate: the root comes from a root bundle — files an
organisation drops in `/usr/share/trayd/roots/` (the package owns the directory) or the
user in `$XDG_CONFIG_HOME/trayd/roots/` — matched to the certificate's issuer by Authority
Key Identifier and name, and confirmed by the signature.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from trayd import paths
from trayd.core.certificates import (colon_hex, extension, not_after, not_before, rfc4514,
                                     self_signed, serial_hex, signed_by)
from trayd.errors import NotCertificateAuthority
from trayd.i18n import _

log = logging.getLogger(__name__)

SYSTEM_ROOTS_DIR = Path("/usr/share/trayd/roots")
BUNDLE_SUFFIXES = (".pem", ".crt", ".cer", ".der")


def roots_dirs() -> list[Path]:
    """Root bundle directories, the organisation's first, then the user's."""
    return [SYSTEM_ROOTS_DIR, paths.config_dir() / "roots"]


@dataclass(frozen=True)
class CertFacts:
    """What the prompt, the CLI and the trust logic need to know about one certificate."""

    der: bytes = field(repr=False)
    subject: str
    issuer: str
    common_name: str
    sha1: str  # upper-case hex, no separators
    sha256: str
    not_before: datetime
    not_after: datetime
    ca_flag: bool | None  # Basic Constraints cA, None when the extension is absent
    self_signed: bool
    ski: bytes | None
    aki: bytes | None
    serial_hex: str

    @property
    def expired(self) -> bool:
        return self.not_after < datetime.now(timezone.utc)

    def to_json(self) -> dict:
        return {
            "subject": self.subject, "issuer": self.issuer, "sha1": self.sha1,
            "sha256": self.sha256, "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(), "ca": self.ca_flag,
            "self_signed": self.self_signed, "serial_hex": self.serial_hex,
        }


def warning_fields(cert: "CertFacts") -> list[tuple[str, str]]:
    """What the security warning shows about a root (as Windows' does), plus SHA-256.

    One list for the dialog and `trayd root`, so the user sees the same facts either way.
    """
    return [
        (_("Subject"), cert.subject),
        (_("Issuer"), cert.issuer),
        (_("Valid from"), cert.not_before.strftime("%Y-%m-%d %H:%M UTC")),
        (_("Valid to"), cert.not_after.strftime("%Y-%m-%d %H:%M UTC")),
        (_("Thumbprint (SHA-1)"), colon_hex(cert.sha1)),
        (_("Fingerprint (SHA-256)"), colon_hex(cert.sha256)),
    ]


def _load(der_or_pem: bytes) -> x509.Certificate:
    data = der_or_pem.strip()
    if data.startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(der_or_pem)


def facts(der_or_pem: bytes) -> CertFacts:
    """Parse one certificate (DER or PEM). Raises NotCertificateAuthority("unparseable")."""
    try:
        cert = _load(der_or_pem)
    except (ValueError, TypeError) as exc:
        raise NotCertificateAuthority(subject="", reason="unparseable") from exc
    from cryptography.hazmat.primitives.serialization import Encoding

    der = cert.public_bytes(Encoding.DER)
    bc = extension(cert, x509.BasicConstraints)
    ski = extension(cert, x509.SubjectKeyIdentifier)
    aki = extension(cert, x509.AuthorityKeyIdentifier)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = rfc4514(cert.subject)
    return CertFacts(
        der=der, subject=subject, issuer=rfc4514(cert.issuer),
        common_name=str(cns[0].value) if cns else subject,
        sha1=hashlib.sha1(der).hexdigest().upper(),  # noqa: S324 - a thumbprint, as Windows shows
        sha256=hashlib.sha256(der).hexdigest().upper(),
        not_before=not_before(cert), not_after=not_after(cert),
        ca_flag=bc.ca if bc is not None else None, self_signed=self_signed(cert),
        ski=ski.digest if ski is not None else None,
        aki=aki.key_identifier if aki is not None else None,
        serial_hex=serial_hex(cert.serial_number),
    )


def issued(child: CertFacts, parent: CertFacts) -> bool:
    """`parent` issued `child`: names match, key identifiers agree when both are present,
    and the parent's key verifies the child's signature."""
    if child.der == parent.der:
        return False
    c, p = _load(child.der), _load(parent.der)
    if c.issuer != p.subject:
        return False
    if child.aki is not None and parent.ski is not None and child.aki != parent.ski:
        return False
    return signed_by(c, p)


def ca_reason(cert: CertFacts, others: Sequence[CertFacts] = ()) -> str | None:
    """None when `cert` may be a trust anchor, else the refusal reason. `others` are the
    token's other certificates (to recognise the issuer of the user certificate)."""
    if cert.ca_flag is True:
        return None
    if cert.ca_flag is False:
        return "basic_constraints_not_ca"
    if cert.self_signed:
        return None
    if any(issued(o, cert) for o in others):
        return None
    return "end_entity"


def require_ca(cert: CertFacts, others: Sequence[CertFacts] = ()) -> None:
    """Raise NotCertificateAuthority unless `cert` may be installed as a trust anchor."""
    reason = ca_reason(cert, others)
    if reason:
        raise NotCertificateAuthority(subject=cert.subject, reason=reason)


def read_bundle_file(path: Path) -> list[CertFacts]:
    """Every certificate in one file (PEM with one or more certificates, or DER)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        log.warning("root bundle %s unreadable: %s", path, exc)
        return []
    out: list[CertFacts] = []
    if b"-----BEGIN CERTIFICATE-----" in data:
        for block in data.split(b"-----END CERTIFICATE-----")[:-1]:
            start = block.find(b"-----BEGIN CERTIFICATE-----")
            if start < 0:
                continue
            try:
                out.append(facts(block[start:] + b"-----END CERTIFICATE-----\n"))
            except NotCertificateAuthority:
                log.warning("root bundle %s: unreadable certificate skipped", path)
    else:
        try:
            out.append(facts(data))
        except NotCertificateAuthority:
            log.warning("root bundle %s: not a certificate", path)
    return out


def load_bundle(dirs: Iterable[Path] | None = None) -> list[CertFacts]:
    """Every certificate in the root bundle directories (unreadable files are skipped)."""
    certs: list[CertFacts] = []
    for d in (roots_dirs() if dirs is None else dirs):
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            if path.is_file() and path.suffix.lower() in BUNDLE_SUFFIXES:
                certs.extend(read_bundle_file(path))
    return certs


@dataclass(frozen=True)
class Candidate:
    """A CA certificate to offer: where it came from and why it qualifies."""

    cert: CertFacts
    source: str  # "token" | "bundle"
    token_serial: str | None = None

    def to_json(self) -> dict:
        return {**self.cert.to_json(), "source": self.source, "token_serial": self.token_serial}


def candidates(token_certs: Sequence[CertFacts], bundle: Sequence[CertFacts] = (),
               token_serial: str | None = None) -> list[Candidate]:
    """The CA certificates to offer for one token: its own CA certificates, then the
    bundle certificates that issued any certificate of the chain (user certificate →
    intermediate → root), followed up to a self-signed root. Deduplicated by SHA-256."""
    out: list[Candidate] = []
    seen: set[str] = set()
    for cert in token_certs:
        if cert.sha256 not in seen and ca_reason(cert, token_certs) is None:
            seen.add(cert.sha256)
            out.append(Candidate(cert, "token", token_serial))
    frontier = list(token_certs)
    for _depth in range(8):
        found = []
        for child in frontier:
            if child.self_signed:
                continue
            for parent in bundle:
                if parent.sha256 in seen or ca_reason(parent, [child]) is not None:
                    continue
                if issued(child, parent):
                    seen.add(parent.sha256)
                    found.append(parent)
                    out.append(Candidate(parent, "bundle", token_serial))
        if not found:
            break
        frontier = found
    return _roots_first(out)


def _roots_first(cands: list[Candidate]) -> list[Candidate]:
    """Drop intermediate CAs whose chain ends at a self-signed root that is offered too:
    trusting the root covers them, and one security warning per token is what users know
    from Windows (intermediates go silently to its intermediate store)."""
    roots = [c.cert for c in cands if c.cert.self_signed]

    def reaches_root(cert: CertFacts, depth: int = 0) -> bool:
        if depth > 8:
            return False
        for c in cands:
            if issued(cert, c.cert):
                if c.cert.self_signed or reaches_root(c.cert, depth + 1):
                    return True
        return False

    if not roots:
        return cands
    return [c for c in cands if c.cert.self_signed or not reaches_root(c.cert)]


def nickname_for(cert: CertFacts) -> str:
    """Stable, recognisable NSS nickname: the subject's CN + " (trayd)"."""
    return f"{cert.common_name} (trayd)"
