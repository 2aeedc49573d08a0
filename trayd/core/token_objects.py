"""Reading the token's certificate objects (worker thread of the token service).

Why apart: listing and exporting certificates are the non-PIN reads; each attribute is
read separately so one unreadable value (an odd certificate) does not hide the others,
and a vague error while the token is gone is reported as its removal.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trayd import errors as E
from trayd.core import certificates
from trayd.core.models import CertificateInfo

if TYPE_CHECKING:
    from trayd.core.token_service import LocalTokenService, _Slot


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex().upper()
    return ""


def removed_or(svc: LocalTokenService, exc: BaseException, slot: _Slot,
               operation: str) -> E.TraydError:
    """Map `exc`; a vague module error while the token is gone means TokenRemoved."""
    mapped = svc._map(exc, slot.info.serial, operation)
    if isinstance(mapped, E.TokenError) and svc._gone(slot):
        return E.TokenRemoved(serial=slot.info.serial, operation=operation)
    return mapped


def _reraise_if_removed(svc: LocalTokenService, exc: BaseException, slot: _Slot,
                        operation: str) -> None:
    mapped = removed_or(svc, exc, slot, operation)
    if isinstance(mapped, E.TokenRemoved):
        raise mapped from exc


def certificates_on(svc: LocalTokenService, slot: _Slot) -> list[CertificateInfo]:
    from pkcs11 import Attribute, ObjectClass

    serial = slot.info.serial
    session = svc._open(slot)
    try:
        out = []
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
            label, id_hex, der, error = "", "", None, None
            try:
                label = str(obj[Attribute.LABEL] or "")
            except Exception as exc:  # noqa: BLE001
                _reraise_if_removed(svc, exc, slot, "list")
            try:
                id_hex = _hex(obj[Attribute.ID])
            except Exception as exc:  # noqa: BLE001
                _reraise_if_removed(svc, exc, slot, "list")
            try:
                der = bytes(obj[Attribute.VALUE])
            except Exception as exc:  # noqa: BLE001
                _reraise_if_removed(svc, exc, slot, "list")
                error = f"CKA_VALUE: {type(exc).__name__}"
            info = certificates.summarize(der, token_serial=serial, label=label, id_hex=id_hex)
            info.der = der  # read anyway: TokenIdentified carries it, nobody reads it again
            if error and not info.readable:
                info.error = error
            out.append(info)
        return out
    except E.TraydError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise removed_or(svc, exc, slot, "list") from exc
    finally:
        svc._close_session(session, logged_in=False)


def certificate_der(svc: LocalTokenService, slot: _Slot, cert_id: str) -> bytes:
    from pkcs11 import Attribute, ObjectClass

    try:
        wanted = bytes.fromhex(cert_id)
    except ValueError:
        raise E.NoSuchCertificate(token_serial=slot.info.serial, cert_id=cert_id) from None
    session = svc._open(slot)
    try:
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                        Attribute.ID: wanted}):
            return bytes(obj[Attribute.VALUE])
    except Exception as exc:  # noqa: BLE001
        raise removed_or(svc, exc, slot, "export") from exc
    finally:
        svc._close_session(session, logged_in=False)
    if svc._gone(slot):  # a token pulled while OpenSC bound it lists too little
        raise E.TokenRemoved(serial=slot.info.serial, operation="export")
    raise E.NoSuchCertificate(token_serial=slot.info.serial, cert_id=cert_id)
