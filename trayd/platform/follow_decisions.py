"""Apply the user's recorded decisions to browser databases that appeared later.

Why: the usual order for a new user is install trayd, insert the token (はい to the root,
はい to browser registration), and only later start a browser for the first time. That
browser's new profile has neither the root nor OpenSC. The decisions are already on
record in `trust_state` — a root trayd installed (and not declined since), OpenSC
registered (and browser registration not declined) — so a database without them gets the
same: the root with trust `C,,` and the OpenSC module, each recorded like a manual install,
so `root remove`, `browser unregister` and `trayd cleanup` undo them too. Nothing is
applied when the user declined (or removed everything trayd had installed).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from trayd.core import trust_roots, trust_state
from trayd.core.trust_roots import CertFacts
from trayd.errors import TraydError
from trayd.platform import browser_module, nss, trust_install

log = logging.getLogger(__name__)
_lock = threading.Lock()  # the agent's watcher and its insertion check may run together


@dataclass
class Applied:
    """What was added to one database."""

    database: nss.NssDatabase
    roots: list[str] = field(default_factory=list)  # subjects of the roots added
    module: bool = False
    in_use_by: list[int] = field(default_factory=list)  # PIDs holding it open (running)


@dataclass
class FollowResult:
    applied: list[Applied] = field(default_factory=list)
    errors: list[TraydError] = field(default_factory=list)
    seen: int = 0  # databases looked at

    @property
    def running(self) -> bool:
        """A browser that got something holds its database open: it must restart."""
        return any(a.in_use_by for a in self.applied)


def _root_facts(sha256: str, records: list[trust_state.InstalledRoot]) -> CertFacts | None:
    """The root's certificate, copied from a database trayd installed it in."""
    for rec in records:
        if rec.sha256 != sha256:
            continue
        db = nss.NssDatabase(Path(rec.database), "recorded")
        if not (db.path / "cert9.db").is_file():
            continue
        try:
            for der in nss.certificate_ders(db, rec.nickname):
                facts = trust_roots.facts(der)
                if facts.sha256 == sha256:
                    return facts
        except TraydError as exc:
            log.info("follow: cannot read %s from %s: %r", rec.nickname, db.path, exc)
    return None


def decisions() -> tuple[list[str], str | None]:
    """(fingerprints of roots to follow, OpenSC library to follow or None)."""
    st = trust_state.load()
    roots = sorted({r.sha256 for r in st.roots} - set(st.declined))
    library = None
    if st.modules and not st.browser_declined:
        library = st.modules[-1].library
    return roots, library


def apply(home: Path | None = None, settled: set[tuple[str, str]] | None = None
          ) -> FollowResult:
    """Bring every database up to the recorded decisions. `settled` (kept by the caller
    across calls) remembers (database, fingerprint) pairs found trusted by someone else,
    so a watcher woken by a busy profile does not run certutil again for them."""
    settled = set() if settled is None else settled
    result = FollowResult()
    with _lock:
        dbs = nss.find_databases(home)
        result.seen = len(dbs)
        roots, library = decisions()
        if not roots and not library:
            return result
        st = trust_state.load()
        recorded_roots = {(r.database, r.sha256) for r in st.roots}
        recorded_modules = {m.database for m in st.modules}
        facts: dict[str, CertFacts | None] = {}
        for db in dbs:
            key = str(db.path)
            done = Applied(db)
            try:
                for sha in roots:
                    if (key, sha) in recorded_roots or (key, sha) in settled:
                        continue
                    if sha not in facts:
                        facts[sha] = _root_facts(sha, st.roots)
                    cert = facts[sha]
                    if cert is None:
                        continue
                    change = trust_install.install_in(db, cert)
                    if change.action == "already_trusted":
                        settled.add((key, sha))
                    else:
                        done.roots.append(cert.subject)
                if library and key not in recorded_modules and \
                        browser_module.db_status(db, home).state == "absent":
                    browser_module.register_in(db, library, home)
                    done.module = True
            except TraydError as exc:  # one broken profile must not stop the others
                log.error("follow: %s: %r", db.path, exc)
                result.errors.append(exc)
            if done.roots or done.module:
                done.in_use_by = nss.in_use(db)
                log.info("follow: %s got %d root(s)%s%s", db.display, len(done.roots),
                         ", OpenSC" if done.module else "",
                         f" (open in pid {done.in_use_by})" if done.in_use_by else "")
                result.applied.append(done)
    return result
