"""What the management window shows, as plain data: tree ids and titles, token rows.

Why apart from the window: easy to check without Tk. The token rows themselves are
`trayd.token_rows` (the CLI shows the same ones).
"""
from __future__ import annotations

from trayd.core.models import CertificateInfo
from trayd.token_rows import token_rows

__all__ = ["cert_iid", "cert_title", "token_iid", "token_rows"]


def token_iid(serial: str) -> str:
    return f"t:{serial}"


def cert_iid(serial: str, cert_id: str) -> str:
    return f"c:{serial}:{cert_id}"


def cert_title(cert: CertificateInfo) -> str:
    """What the tree shows for a certificate: its ID (ES…/FC…), else label, else CKA_ID."""
    if cert.certificate_id:
        return cert.certificate_id
    return cert.label or cert.id
