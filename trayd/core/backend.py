"""The one interface every front end uses to reach tokens.

Why a protocol: the CLI, the tray, the management window and the dialogs must not care
whether the PKCS#11 work runs in this process (`trayd.core.token_service`, one worker
thread owning the module) or in the running agent (`trayd.ipc` client over the agent's
socket). The ePass2003's secure-messaging session belongs to the card, so while the agent
runs every front end goes through the agent's single worker.

Errors are the typed ones from `trayd.errors` (WrongPin, PinLocked, TokenRemoved, …).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from trayd.core.models import CertificateInfo, TokenInfo


class TokenBackend(Protocol):
    def list_tokens(self) -> list[TokenInfo]:
        """Every token present (PKCS#11 slots with a token), with reader names."""

    def list_certificates(self, token_serial: str | None = None) -> list[CertificateInfo]:
        """Certificate objects of one token (or of all when None); unreadable ones included."""

    def certificate_der(self, token_serial: str, cert_id: str) -> bytes:
        """CKA_VALUE of the certificate object `cert_id` (hex CKA_ID). Never a private key."""

    def export_certificate(self, token_serial: str, cert_id: str, path: Path,
                           fmt: str = "der", force: bool = False) -> Path:
        """Write the public certificate atomically (DER `.cer` or PEM)."""

    def login(self, token_serial: str, pin: str, confirm_last_try: bool = False) -> TokenInfo:
        """Verify the user PIN and keep the token logged in until logout/removal."""

    def logout(self, token_serial: str) -> None:
        ...

    def change_pin(self, token_serial: str, old_pin: str, new_pin: str,
                   confirm_weak: bool = False, confirm_last_try: bool = False) -> None:
        """Change the user PIN (policy checked before anything is sent)."""

    def close(self) -> None:
        ...
