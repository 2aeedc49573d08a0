"""Plain data that crosses layers: what the core knows about tokens and certificates.

Why here: the CLI's `--json`, the tray menu, the management window and the agent socket
all show the same facts; one set of dataclasses (field names = the CLI contract) keeps
them in step. No behaviour lives here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class TokenInfo:
    reader: str
    slot: int
    label: str
    serial: str
    manufacturer: str
    model: str
    pin_min: int | None = None
    pin_max: int | None = None
    hardware_version: str | None = None
    firmware_version: str | None = None
    # e.g. "login_required", "user_pin_initialized", "user_pin_count_low",
    # "user_pin_final_try", "user_pin_locked", "user_pin_to_be_changed"
    flags: list[str] = field(default_factory=list)
    tries_left: int | None = None
    locked: bool = False
    logged_in: bool = False

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class CertificateInfo:
    token_serial: str
    label: str
    id: str  # hex of CKA_ID
    readable: bool
    subject: str | None = None  # RFC 4514
    issuer: str | None = None
    serial_hex: str | None = None  # contiguous upper-case hex digits
    not_before: str | None = None  # ISO 8601 UTC
    not_after: str | None = None
    certificate_id: str | None = None  # the ES…/FC… ID from the subject (manual §4.3④)
    sha1: str | None = None
    sha256: str | None = None
    is_ca: bool | None = None
    self_signed: bool | None = None
    key_type: str | None = None
    key_bits: int | None = None
    days_left: int | None = None
    signature_algorithm: str | None = None
    version: int | None = None
    key_usage: list[str] = field(default_factory=list)
    extended_key_usage: list[str] = field(default_factory=list)
    error: str | None = None  # why it is unreadable
    # The certificate itself, as read from the token (the root prompt needs it); never in
    # JSON (the CLI contract, the agent socket): clients ask `certificate_der` for it.
    der: bytes | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        out = asdict(self)
        del out["der"]
        return out


@dataclass(frozen=True)
class ReaderInfo:
    """One PC/SC reader and what is in it, as PC/SC says (`pcsc.snapshot()`, the agent's
    token model). What PKCS#11 reads from a token is the model's, not the reader's."""

    name: str
    card_present: bool = False
    atr: bytes = b""
    model: str | None = None  # "ePass2003", or None for an unknown card / no card

    @property
    def atr_hex(self) -> str | None:
        """Upper-case hex without separators (what `trayd status` shows), None if no ATR."""
        return self.atr.hex().upper() or None

    def to_json(self) -> dict:
        return {"name": self.name, "card_present": self.card_present, "atr": self.atr_hex,
                "model": self.model}
