"""What the management window shows, as plain data: tree ids and titles, token rows.

Why apart from the window: the same rows fill the management window's トークン情報 pane and
the tray's standalone 「トークン情報」 dialog, and they are easy to check without Tk.
"""
from __future__ import annotations

from trayd.core.models import CertificateInfo, TokenInfo
from trayd.i18n import _

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


def token_iid(serial: str) -> str:
    return f"t:{serial}"


def cert_iid(serial: str, cert_id: str) -> str:
    return f"c:{serial}:{cert_id}"


def cert_title(cert: CertificateInfo) -> str:
    """What the tree shows for a certificate: its ID (ES…/FC…), else label, else CKA_ID."""
    if cert.certificate_id:
        return cert.certificate_id
    return cert.label or cert.id


def token_rows(t: TokenInfo) -> list[tuple[str, str]]:
    """The トークン情報 pane's rows."""
    state = _("Locked") if t.locked else (_("Logged in") if t.logged_in else _("Logged out"))
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
        (_("State"), state),
    ]
    if t.tries_left is not None:
        rows.append((_("Tries left"), str(t.tries_left)))
    flags = [_(FLAG_NAMES[f]) for f in t.flags if f in FLAG_NAMES]
    for i, flag in enumerate(flags):  # one per row: a Treeview cell cannot wrap
        rows.append((_("Flags") if i == 0 else "", flag))
    return rows
