"""Consecutive wrong PINs per token, as trayd has seen them.

Why: OpenSC 0.23 never reports the ePass2003's tries left (`docs/epass2003-card.md`), yet the
token locks for good after `max_pin_tries` (10 on EPPCERT tokens) wrong PINs in a row.
We count the failures we cause ourselves, reset on success, and warn before the try that
could lock. The count is a lower bound (another program may have failed too), so it
only ever makes us more careful. Keyed by token serial; no PIN material is stored,
only counts and a "seen locked" mark. The file lives in the user state directory and is
shared by the agent and CLI processes (an flock serialises updates).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trayd import paths
from trayd.files import FileLock, read_json, write_json

FILE_NAME = "pin-failures.json"


def is_last_try(*, tries_left: int | None = None, failures: int = 0,
                max_tries: int | None = 0) -> bool:
    """The one "is the next PIN the try that could lock the token" rule.

    The token's own word wins when it gives one (`tries_left`: 1 from
    CKF_USER_PIN_FINAL_TRY; 0 is already locked, which is no try at all and is shown as the
    lock, not as this question).
    Otherwise trayd's count of consecutive wrong PINs: the try after `max_tries - 1`
    failures could be the last. Used by the token service before a PIN goes out, by the
    dialogs when they open and after each wrong PIN, so all of them ask at the same try.
    """
    if tries_left is not None:
        return tries_left == 1
    return bool(max_tries and max_tries > 0 and failures >= max_tries - 1)


class PinFailureCounter:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path or paths.state_dir() / FILE_NAME

    def _read(self) -> dict[str, dict[str, Any]]:
        data = read_json(self.path, {})
        return data if isinstance(data, dict) else {}

    def _update(self, serial: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        with FileLock(self.path.with_suffix(".lock")):
            data = self._read()
            entry = data.get(serial) if isinstance(data.get(serial), dict) else {}
            change(entry)
            entry["updated"] = int(time.time())
            data[serial] = entry
            write_json(self.path, data)
            return dict(entry)

    def _entry(self, serial: str) -> dict[str, Any]:
        entry = self._read().get(serial)
        return entry if isinstance(entry, dict) else {}

    def failures(self, serial: str) -> int:
        value = self._entry(serial).get("failures", 0)
        return value if isinstance(value, int) and value >= 0 else 0

    def seen_locked(self, serial: str) -> bool:
        return bool(self._entry(serial).get("locked", False))

    def record_failure(self, serial: str) -> int:
        """One more wrong PIN; returns the new count."""
        def bump(e: dict[str, Any]) -> None:
            prev = e.get("failures", 0)
            e["failures"] = (prev if isinstance(prev, int) and prev >= 0 else 0) + 1
        return int(self._update(serial, bump)["failures"])

    def record_success(self, serial: str) -> None:
        if not self._entry(serial):
            return
        def reset(e: dict[str, Any]) -> None:
            e["failures"] = 0
            e["locked"] = False
        self._update(serial, reset)

    def record_locked(self, serial: str) -> None:
        self._update(serial, lambda e: e.__setitem__("locked", True))

    def needs_last_try_confirmation(self, serial: str, max_tries: int) -> bool:
        """True when the next wrong PIN could be the one that locks the token."""
        return is_last_try(failures=self.failures(serial), max_tries=max_tries)
