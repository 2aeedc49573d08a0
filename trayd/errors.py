"""Typed errors that carry data, not words.

Why: the same failure (a wrong PIN, a pulled token) is shown by the CLI, the tray and the
management window in Japanese or English. Errors therefore carry facts (`tries_left`,
`reader`, …); `trayd.messages.describe()` picks the words, and the CLI maps `exit_code`
to its process exit status in one place. Exit codes follow the CLI contract:
0 ok, 1 error, 2 usage or PIN policy, 3 no such token/certificate, 4 wrong PIN,
5 PIN locked, 6 cancelled.
"""
from __future__ import annotations

from dataclasses import dataclass


class TraydError(Exception):
    """Base of every error trayd raises on purpose."""

    exit_code: int = 1


@dataclass
class UsageError(TraydError):
    detail: str = ""
    exit_code = 2


@dataclass
class PcscUnavailable(TraydError):
    """pcscd is not running or not reachable, or (`denied`) it refused us (polkit)."""

    detail: str = ""
    denied: bool = False


@dataclass
class NoSuchToken(TraydError):
    """No token matches, or the selection is ambiguous (several present, none named)."""

    serial: str | None = None
    present: int = 0
    exit_code = 3


@dataclass
class NoSuchCertificate(TraydError):
    token_serial: str = ""
    cert_id: str = ""
    exit_code = 3


@dataclass
class TokenRemoved(TraydError):
    """The token left while an operation was running."""

    serial: str | None = None
    operation: str = ""


@dataclass
class Pkcs11ModuleError(TraydError):
    """The PKCS#11 module could not be found or loaded."""

    path: str | None = None
    detail: str = ""


@dataclass
class TokenError(TraydError):
    """Any other failure reported by the token or the module.

    `code` is the CKR name (for logs and --json, never the user's only words), `rv` the
    value, `kind` its class from `trayd.core.ckr` (the message picks words by kind), and
    `operation` what trayd was doing ("login", "list", …).
    """

    code: str = ""
    detail: str = ""
    rv: int | None = None
    kind: str = ""
    operation: str = ""


@dataclass
class TokenBusy(TraydError):
    """Another application (a browser) holds the token's secure-messaging session and
    trayd could not get it back for this operation.

    `pin_may_be_checked` is True when the PIN had reached the card, so trayd did not send
    it again by itself (see docs/architecture.md, "Sharing the token").
    """

    serial: str | None = None
    operation: str = ""
    pin_may_be_checked: bool = False


@dataclass
class PinPolicyError(TraydError):
    """The PIN was refused before anything was sent to the token (length, mismatch, …)."""

    reason: str = ""  # "too_short" | "too_long" | "mismatch" | "same_as_current" | "empty" | "weak"
    minimum: int | None = None
    maximum: int | None = None
    exit_code = 2


@dataclass
class WrongPin(TraydError):
    """The token refused the PIN. `tries_left` is None when the token does not say."""

    tries_left: int | None = None
    failures_seen: int = 0
    max_tries: int | None = None
    exit_code = 4


@dataclass
class PinLocked(TraydError):
    """The user PIN is blocked; the token must go back to its issuer."""

    serial: str | None = None
    exit_code = 5


@dataclass
class Cancelled(TraydError):
    """The user said no (or closed the dialog)."""

    what: str = ""
    exit_code = 6


@dataclass
class ConfirmationRequired(TraydError):
    """An action needs an explicit yes first (last PIN try, weak PIN, trust install)."""

    reason: str = ""  # "last_try" | "weak_pin" | "trust"
    exit_code = 6


@dataclass
class FileExistsRefused(TraydError):
    path: str = ""
    exit_code = 1


@dataclass
class AlreadyRunning(TraydError):
    """Another trayd agent owns this user session."""

    pid: int | None = None
    exit_code = 0


@dataclass
class NotCertificateAuthority(TraydError):
    """A certificate was refused as a trust anchor: it is not a CA certificate."""

    subject: str = ""
    reason: str = ""  # "basic_constraints_not_ca" | "end_entity" | "unparseable"
    exit_code = 1


@dataclass
class NssToolError(TraydError):
    """certutil / modutil failed (or is not installed) on an NSS database."""

    tool: str = ""
    database: str = ""
    detail: str = ""
    exit_code = 1


@dataclass
class AgentUnavailable(TraydError):
    """The running agent stopped answering on its socket in the middle of a request."""

    detail: str = ""
    exit_code = 1
