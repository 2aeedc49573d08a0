"""What the management window shows, as plain data: tree ids and titles, token rows.

Why apart from the window: easy to check without Tk. The token rows themselves are
`trayd.token_rows`, like the certificates' titles (the CLI and the tray use the same).
"""
from __future__ import annotations

from trayd.token_rows import cert_title, token_rows

__all__ = ["cert_iid", "cert_title", "token_iid", "token_rows"]


def token_iid(serial: str) -> str:
    return f"t:{serial}"


def cert_iid(serial: str, cert_id: str) -> str:
    return f"c:{serial}:{cert_id}"

