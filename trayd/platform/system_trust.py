"""Optional system-wide install of a root certificate (all users, all TLS libraries).

Why separate and explicit: the user NSS databases are enough for the browsers (manual
§3.1②); the system store also makes curl, OpenSSL-based tools and other users trust the
CA. That is a bigger decision, taken only on its own request (`trayd root install
--system`), with the administrator's password through polkit (`pkexec`).

Debian / Ubuntu: the PEM goes to `/usr/local/share/ca-certificates/trayd/<name>.crt`,
then `update-ca-certificates`. Elsewhere (Fedora, Arch): p11-kit's `trust anchor --store`.
Both steps run in ONE pkexec call, so the password is asked once. trayd records the
file it wrote, and `remove` deletes exactly that file and refreshes the store.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from trayd.core import trust_state
from trayd.core.trust_roots import CertFacts
from trayd.errors import Cancelled, NssToolError

log = logging.getLogger(__name__)


@dataclass
class Layout:
    """Where update-ca-certificates reads and writes (tests point it at a temp tree)."""

    local_certs: Path = Path("/usr/local/share/ca-certificates")
    extra_args: list[str] = field(default_factory=list)  # e.g. --etccertsdir for tests

    @property
    def trayd_dir(self) -> Path:
        return self.local_certs / "trayd"


@dataclass(frozen=True)
class SystemResult:
    method: str
    path: str

    def to_json(self) -> dict:
        return {"method": self.method, "path": self.path}


def method() -> str | None:
    """"update-ca-certificates" (Debian family), "p11-kit", or None (no system tool)."""
    if shutil.which("update-ca-certificates") or Path("/usr/sbin/update-ca-certificates").exists():
        return "update-ca-certificates"
    if shutil.which("trust"):
        return "p11-kit"
    return None


def _file_name(cert: CertFacts) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", cert.common_name).strip("_") or "root"
    return f"{safe}-{cert.sha256[:12]}.crt"


def _pem(cert: CertFacts) -> bytes:
    from trayd.core.certificates import der_to_pem

    return der_to_pem(cert.der)


def _privileged(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run as root: directly when we are root, else through pkexec (one password prompt)."""
    if os.geteuid() != 0:
        pkexec = shutil.which("pkexec")
        if not pkexec:
            raise NssToolError(tool="pkexec", detail="missing")
        argv = [pkexec, *argv]
    proc = subprocess.run(argv, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    # pkexec: 126 = the user dismissed the authentication dialog, 127 = not authorised.
    if os.geteuid() != 0 and proc.returncode in (126, 127):
        raise Cancelled(what="system trust")
    if proc.returncode != 0:
        detail = " ".join((proc.stderr or proc.stdout).decode("utf-8", "replace").split())
        raise NssToolError(tool=os.path.basename(argv[-1] if argv else "?"),
                           database="system", detail=detail or f"exit {proc.returncode}")
    return proc


def install(cert: CertFacts, layout: Layout | None = None) -> SystemResult:
    """Add `cert` (already checked to be a CA, already confirmed) to the system store."""
    layout = layout or Layout()
    how = method()
    if how is None:
        raise NssToolError(tool="update-ca-certificates", database="system", detail="missing")
    with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as tmp:
        tmp.write(_pem(cert))
    os.chmod(tmp.name, 0o644)
    try:
        if how == "update-ca-certificates":
            dest = layout.trayd_dir / _file_name(cert)
            script = 'install -D -m 0644 "$1" "$2" && shift 2 && update-ca-certificates "$@"'
            _privileged(["/bin/sh", "-c", script, "sh", tmp.name, str(dest), *layout.extra_args])
        else:
            # Keep a copy: `trust anchor --remove FILE` needs the certificate later.
            from trayd import paths

            dest = paths.data_dir() / "system-roots" / _file_name(cert)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp.name, dest)
            _privileged(["trust", "anchor", "--store", str(dest)])
    finally:
        os.unlink(tmp.name)
    with trust_state.Update() as st:
        st.system.append(trust_state.SystemRoot(
            sha256=cert.sha256, subject=cert.subject, path=str(dest), method=how,
            at=trust_state.now()))
    return SystemResult(how, str(dest))


def remove(sha256: str, layout: Layout | None = None) -> list[dict]:
    """Delete what trayd put into the system store for this fingerprint."""
    layout = layout or Layout()
    done = []
    for rec in [s for s in trust_state.load().system if s.sha256 == sha256.upper()]:
        if rec.method == "update-ca-certificates":
            script = 'rm -f "$1" && shift && update-ca-certificates --fresh "$@"'
            _privileged(["/bin/sh", "-c", script, "sh", rec.path, *layout.extra_args])
        else:
            _privileged(["trust", "anchor", "--remove", rec.path])
            Path(rec.path).unlink(missing_ok=True)
        with trust_state.Update() as st:
            st.system = [s for s in st.system if not (s.sha256 == rec.sha256 and s.path == rec.path)]
        done.append({"method": rec.method, "path": rec.path})
    return done
