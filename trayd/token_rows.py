"""A token's facts as (label, value) rows, and a certificate's title: the one wording.

Why one module: the management window's トークン情報 pane, the tray's standalone
「トークン情報」 dialog and the CLI (`trayd tokens`, `trayd login`) show the same token
facts; written twice they drifted apart (トークン名 vs トークンラベル, one PIN length row
vs two, three words for the login state). Plain data, no toolkit: the UI and the CLI
both use it.
"""
from __future__ import annotations

from typing import Protocol

from trayd.core.models import TokenInfo
from trayd.i18n import _

# PKCS#11 token flags (TokenInfo.flags) in words; the row lists only these.
FLAG_NAMES = {
    "login_required": "Login required",
    "user_pin_initialized": "User PIN initialized",
    "user_pin_count_low": "A wrong PIN was entered",
    "user_pin_final_try": "Final try",
    "user_pin_locked": "User PIN locked",
    "user_pin_to_be_changed": "User PIN must be changed",
    "token_initialized": "Token initialized",
    "rng": "Random number generator",
    "write_protected": "Write protected",
}


class _Stateful(Protocol):
    locked: bool
    logged_in: bool


def state_text(t: _Stateful) -> str:
    """ロック / ログイン中 / 未ログイン (a `TokenInfo`, or the agent's view of a token)."""
    if t.locked:
        return _("Locked")
    return _("Logged in") if t.logged_in else _("Logged out")


def token_rows(t: TokenInfo) -> list[tuple[str, str]]:
    """The token information rows (manual §4.2③), one flag per row: a Treeview cell and
    a terminal table cell do not wrap."""
    rows = [
        (_("Token label"), t.label),
        (_("Serial number"), t.serial),
        (_("Manufacturer"), t.manufacturer),
        (_("Model"), t.model),
        (_("Hardware version"), t.hardware_version or "-"),
        (_("Firmware version"), t.firmware_version or "-"),
        (_("Minimum PIN length"), "-" if t.pin_min is None else str(t.pin_min)),
        (_("Maximum PIN length"), "-" if t.pin_max is None else str(t.pin_max)),
        (_("Reader"), t.reader),
        (_("State"), state_text(t)),
    ]
    if t.tries_left is not None:
        rows.append((_("Tries left"), str(t.tries_left)))
    flags = [_(FLAG_NAMES[f]) for f in t.flags if f in FLAG_NAMES]
    for i, flag in enumerate(flags):
        rows.append((_("Flags") if i == 0 else "", flag))
    return rows


class _Named(Protocol):
    certificate_id: str | None
    label: str
    id: str


def cert_title(cert: _Named) -> str:
    """What a menu or tree shows for a certificate (manual §4.3④): its ID (ES…/FC…), with
    the label when the label adds something (a token's signing and authentication
    certificates share one ID), else the label, else the CKA_ID."""
    cid = cert.certificate_id
    if cid and cert.label and cid not in cert.label:
        return f"{cid} ({cert.label})"
    return cid or cert.label or cert.id
