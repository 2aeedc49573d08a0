"""Writing an exported certificate (manual §4.4): public part only, atomically.

Why atomic: the file appears complete or not at all — a pulled token, a full disk or a
crash never leaves a half-written `.cer` that a user might hand on. The bytes come from
the certificate object's CKA_VALUE; private key objects are never read (the token
service only ever searches CKO_CERTIFICATE objects).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from trayd.core.certificates import der_to_pem
from trayd.errors import FileExistsRefused, UsageError
from trayd.files import write_atomic

FORMATS = ("der", "pem")


def default_filename(certificate_id: str | None, label: str | None, fmt: str = "der") -> str:
    """`<certificate ID>.cer` (or `.pem`), falling back to the object's label."""
    stem = certificate_id or label or "certificate"
    stem = re.sub(r"[^\w.-]+", "_", stem).strip("._") or "certificate"
    return f"{stem}.{'pem' if fmt == 'pem' else 'cer'}"


def encode(der: bytes, fmt: str) -> bytes:
    if fmt == "der":
        return der
    if fmt == "pem":
        return der_to_pem(der)
    raise UsageError(detail=f"unknown format {fmt!r} (der or pem)")


def write_certificate(der: bytes, path: Path | str, fmt: str = "der",
                      force: bool = False) -> Path:
    """Write `der` (converted to `fmt`) to `path`; refuse to overwrite unless `force`."""
    path = Path(path).expanduser()
    data = encode(der, fmt)
    if path.is_dir():
        raise UsageError(detail=f"{path} is a directory")
    if not force and (path.exists() or path.is_symlink()):
        raise FileExistsRefused(path=str(path))
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(detail=f"{directory} does not exist")
    umask = os.umask(0)
    os.umask(umask)
    try:
        # A certificate is public: ordinary file mode. Without --force a name that appeared
        # meanwhile is never clobbered.
        return write_atomic(path, data, mode=0o644 & ~umask, replace=force)
    except FileExistsError:
        raise FileExistsRefused(path=str(path)) from None
