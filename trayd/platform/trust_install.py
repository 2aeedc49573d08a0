"""Install / remove a root certificate in every user NSS database, and say where it is.

Why separate from `nss.py`: this is the policy (only CA certificates, trust `C,,`,
verify after writing, record exactly what changed so removal restores the databases
byte-for-byte in their certificate and trust lists); `nss.py` only runs the tools.
Callers (the CLI, the first-run prompt, the tray) must have the user's explicit yes
before calling `install_root` — this module does not ask.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trayd.core import trust_state
from trayd.core.trust_roots import CertFacts, nickname_for, require_ca
from trayd.errors import NssToolError
from trayd.platform import nss

log = logging.getLogger(__name__)

ANCHOR_TRUST = "C,,"


@dataclass(frozen=True)
class Placement:
    """Where one certificate stands in one database."""

    database: nss.NssDatabase
    nickname: str | None
    trust: str | None
    trusted: bool
    by_trayd: bool
    error: str | None = None  # the database could not be read (NSS's message)

    def to_json(self) -> dict:
        return {**self.database.to_json(), "nickname": self.nickname, "trust": self.trust,
                "trusted": self.trusted, "installed_by_trayd": self.by_trayd,
                "error": self.error}


@dataclass(frozen=True)
class Change:
    database: nss.NssDatabase
    action: str  # "added" | "trust_set" | "already_trusted" | "removed" | "trust_restored" | "gone"
    nickname: str | None

    def to_json(self) -> dict:
        return {**self.database.to_json(), "action": self.action, "nickname": self.nickname}


def placements(cert: CertFacts, dbs: Sequence[nss.NssDatabase] | None = None,
               home: Path | None = None) -> list[Placement]:
    dbs = nss.find_databases(home) if dbs is None else dbs
    state = trust_state.load()
    ours = {(r.database, r.sha256) for r in state.roots}
    out = []
    for db in dbs:
        try:
            found = nss.find_by_sha256(db, cert.sha256)
        except NssToolError as exc:  # a broken profile is reported, not fatal
            out.append(Placement(db, None, None, False, False, exc.detail))
            continue
        out.append(Placement(db, found.nickname if found else None,
                             found.trust if found else None,
                             bool(found and found.ssl_ca_trusted),
                             (str(db.path), cert.sha256) in ours))
    return out


def trusted_everywhere(cert: CertFacts, home: Path | None = None) -> bool:
    """True when every user database trusts `cert` as a CA (and at least one exists)."""
    found = placements(cert, home=home)
    return bool(found) and all(p.trusted for p in found)


def _with_ssl_ca(trust: str) -> str:
    parts = (trust.split(",") + ["", "", ""])[:3]
    if "C" not in parts[0]:
        parts[0] = "C" + parts[0]
    return ",".join(parts)


def _free_nickname(db: nss.NssDatabase, cert: CertFacts) -> str:
    nick = nickname_for(cert)
    taken = {c.nickname for c in nss.list_certificates(db)}
    if nick not in taken:
        return nick
    return f"{cert.common_name} {cert.sha256[:8]} (trayd)"


def install_root(cert: CertFacts, others: Sequence[CertFacts] = (),
                 home: Path | None = None) -> list[Change]:
    """Trust `cert` as a CA (`C,,`) in every user database (creating `~/.pki/nssdb`
    if Chromium has none), verify each, and record what changed. Refuses non-CA
    certificates (NotCertificateAuthority) before touching anything."""
    require_ca(cert, others)
    dbs, created = nss.ensure_databases(home)
    if created:
        with trust_state.Update() as st:
            if str(created.path) not in st.created_databases:
                st.created_databases.append(str(created.path))
    changes: list[Change] = []
    failures: list[NssToolError] = []
    for db in dbs:
        try:
            changes.append(install_in(db, cert))
        except NssToolError as exc:  # one broken profile must not block the others
            log.error("root %s not installed in %s: %s", cert.sha256[:16], db.path, exc.detail)
            failures.append(exc)
    if failures:
        raise failures[0]
    return changes


def install_in(db: nss.NssDatabase, cert: CertFacts) -> Change:
    """Trust `cert` as a CA in one database, record what changed, verify."""
    existing = nss.find_by_sha256(db, cert.sha256)
    if existing and existing.ssl_ca_trusted:
        return Change(db, "already_trusted", existing.nickname)
    if existing:
        nick, previous = existing.nickname, existing.trust
        nss.set_trust(db, nick, _with_ssl_ca(existing.trust))
        action = "trust_set"
    else:
        nick, previous = _free_nickname(db, cert), None
        nss.add_certificate(db, nick, cert.der, ANCHOR_TRUST)
        action = "added"
    with trust_state.Update() as st:
        st.roots.append(trust_state.InstalledRoot(
            sha256=cert.sha256, subject=cert.subject, database=str(db.path),
            nickname=nick, previous_trust=previous, at=trust_state.now()))
    # Verify: the certificate is there, under that nickname, trusted as a CA.
    after = nss.find_by_sha256(db, cert.sha256)
    if not after or after.nickname != nick or not after.ssl_ca_trusted:
        raise NssToolError(tool="certutil", database=str(db.path),
                           detail=f"verification failed for {nick!r} "
                                  f"(found {after.trust if after else 'nothing'})")
    log.info("root %s %s in %s as %r", cert.sha256[:16], action, db.path, nick)
    return Change(db, action, nick)


def remove_root(sha256: str, home: Path | None = None) -> list[Change]:
    """Undo exactly what trayd recorded for this fingerprint: delete the certificates it
    added, restore the trust it changed. Returns [] when trayd installed nothing."""
    want = nss.normalise_fingerprint(sha256)
    by_path = {str(db.path): db for db in nss.find_databases(home)}
    changes = []
    for rec in [r for r in trust_state.load().roots if r.sha256 == want]:
        db = by_path.get(rec.database)
        if db is None:
            db = nss.NssDatabase(Path(rec.database), "gone")
            if not (db.path / "cert9.db").is_file():
                changes.append(Change(db, "gone", rec.nickname))
                _forget(rec)
                continue
        current = nss.find_by_sha256(db, want)
        if current is None:
            changes.append(Change(db, "gone", rec.nickname))
        elif rec.previous_trust is None:
            nss.delete_certificate(db, current.nickname)
            changes.append(Change(db, "removed", current.nickname))
        else:
            nss.set_trust(db, current.nickname, rec.previous_trust)
            changes.append(Change(db, "trust_restored", current.nickname))
        _forget(rec)
    return changes


def _forget(rec: trust_state.InstalledRoot) -> None:
    with trust_state.Update() as st:
        st.roots = [r for r in st.roots
                    if not (r.sha256 == rec.sha256 and r.database == rec.database)]


def installed_fingerprints() -> list[str]:
    """SHA-256 of every root trayd has installed somewhere (uninstall cleanup)."""
    return sorted({r.sha256 for r in trust_state.load().roots})
