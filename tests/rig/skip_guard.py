"""Fail the test run on any skip that tests/allowed_skips.txt does not name and explain.

Why: tests that skip themselves when a tool or privilege is missing let `make test` stay
green while guarding nothing. A skip is only right where the behaviour cannot exist on
this machine (a Debian-release-specific behaviour, say); such a skip is allowed by its
node id, with the condition under which it is right and the reason, in
tests/allowed_skips.txt:

    <node id> | <when> | <reason>

An id without ``[...]`` also covers all its parametrizations. <when> is a comma list
(all must hold) of: any, debian-12, debian-13, root, non-root. An xfail counts as a skip.
Missing tools are fixed by adding apt packages (packaging/apt-packages.txt), not here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ALLOWLIST = Path(__file__).resolve().parent.parent / "allowed_skips.txt"


@dataclass(frozen=True)
class Allowed:
    """One allowlist entry."""

    nodeid: str
    when: tuple[str, ...]
    reason: str


def debian_major() -> str:
    """The Debian major release of this machine ('' if not Debian)."""
    try:
        return Path("/etc/debian_version").read_text().strip().split(".")[0]
    except OSError:
        return ""


def condition_holds(word: str) -> bool:
    """Whether one <when> word is true on this machine; unknown words are errors."""
    if word == "any":
        return True
    if word == "root":
        return os.geteuid() == 0
    if word == "non-root":
        return os.geteuid() != 0
    if word.startswith("debian-") and word[7:].isdigit():
        return debian_major() == word[7:]
    raise ValueError(f"unknown condition {word!r}")


def parse_allowlist(text: str, source: str = "allowed_skips.txt") -> list[Allowed]:
    """Entries of an allowlist; a malformed line (no reason, bad condition) raises ValueError."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|", 2)]
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"{source}:{number}: want '<node id> | <when> | <reason>': {raw!r}")
        when = tuple(w.strip() for w in parts[1].split(","))
        for word in when:
            try:
                condition_holds(word)
            except ValueError as e:
                raise ValueError(f"{source}:{number}: {e}") from None
        entries.append(Allowed(parts[0], when, parts[2]))
    return entries


def allowing_entry(nodeid: str, entries: list[Allowed]) -> Allowed | None:
    """The entry that allows this skip here, if any."""
    base = nodeid.split("[", 1)[0]
    for e in entries:
        if e.nodeid in (nodeid, base) and all(condition_holds(w) for w in e.when):
            return e
    return None


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    if getattr(report, "wasxfail", None) is not None:
        return f"xfail: {report.wasxfail}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class SkipGuard:
    """Collects skips during the run; turns unexplained ones into a failed exit status."""

    def __init__(self, entries: list[Allowed]) -> None:
        self.entries = entries
        self.unexplained: list[tuple[str, str]] = []
        self.allowed: list[tuple[str, Allowed]] = []

    def _note(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if not report.skipped:
            return
        entry = allowing_entry(report.nodeid, self.entries)
        if entry is None:
            self.unexplained.append((report.nodeid, _reason(report)))
        else:
            self.allowed.append((report.nodeid, entry))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    def pytest_terminal_summary(self, terminalreporter) -> None:  # type: ignore[no-untyped-def]
        for nodeid, entry in self.allowed:
            terminalreporter.write_line(f"allowed skip ({','.join(entry.when)}): {nodeid}: {entry.reason}")
        if self.unexplained:
            terminalreporter.section("unexplained skips (see tests/rig/skip_guard.py)", red=True)
            for nodeid, reason in self.unexplained:
                terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}", red=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.unexplained and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    """Register the guard (a malformed allowlist stops the run before any test)."""
    text = ALLOWLIST.read_text(encoding="utf-8") if ALLOWLIST.exists() else ""
    try:
        entries = parse_allowlist(text, str(ALLOWLIST))
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    config.pluginmanager.register(SkipGuard(entries), "trayd-skip-guard")
