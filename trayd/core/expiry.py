"""Which certificates expire soon, and which of those to mention today.

Why a notice period of 60 days: that is when EPPCERT starts reminding users to renew.
Why "once a day per certificate": the agent sees a token at every insertion; repeating
the same warning on each insertion would train users to ignore it. The record is keyed
by the certificate's SHA-256 (public data) in the user state directory.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

from trayd import paths
from trayd.core.models import CertificateInfo
from trayd.files import read_json, write_json

DEFAULT_DAYS = 60
FILE_NAME = "expiry-notified.json"


def expiring(certs: list[CertificateInfo], within_days: int = DEFAULT_DAYS) -> list[CertificateInfo]:
    """Readable, non-CA certificates whose `days_left` is at most `within_days` (expired too)."""
    out = [c for c in certs
           if c.readable and c.days_left is not None and c.days_left <= within_days
           and not c.is_ca]
    return sorted(out, key=lambda c: c.days_left or 0)


class ExpiryReminder:
    """Remembers the day each certificate was last mentioned."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path or paths.state_dir() / FILE_NAME

    def _read(self) -> dict[str, str]:
        data = read_json(self.path, {})
        return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}

    def due(self, certs: list[CertificateInfo], within_days: int = DEFAULT_DAYS,
            today: date | None = None) -> list[CertificateInfo]:
        """Expiring certificates not yet mentioned today; marks them as mentioned."""
        today = today or datetime.now(timezone.utc).astimezone().date()
        stamp = today.isoformat()
        seen = self._read()
        due = [c for c in expiring(certs, within_days) if c.sha256 and seen.get(c.sha256) != stamp]
        if due:
            for c in due:
                seen[c.sha256 or ""] = stamp
            write_json(self.path, seen)
        return due
