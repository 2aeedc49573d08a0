"""Wire format of the agent socket: one JSON object per line, UTF-8.

Why JSON lines: both ends are Python today, but a line-oriented text protocol can be
inspected with `socat` and spoken by any later front end. Requests are
`{"id": N, "method": "...", "params": {...}}`; responses `{"id": N, "result": ...}` or
`{"id": N, "error": {"type": "<TraydError subclass>", "fields": {...}}}`, which the client
re-raises as the same typed error so a wrong PIN in a dialog looks exactly like a wrong PIN
in-process. After a `subscribe` request the server pushes `{"event": {"type", "fields"}}`
lines (trayd.events) on that connection.

PINs travel in `params` in memory only; `redact()` is the one way to put a request into a
log.
"""
from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from trayd import errors, events
from trayd.core.models import CertificateInfo, TokenInfo

VERSION = 1
MAX_LINE = 1 << 20  # a certificate list is a few KiB; anything near 1 MiB is abuse

# Methods of trayd.core.backend.TokenBackend the agent serves, plus housekeeping.
BACKEND_METHODS = (
    "list_tokens", "token_info", "list_certificates", "certificate_der", "export_certificate",
    "login", "logout", "change_pin",
)
METHODS = BACKEND_METHODS + ("ping", "subscribe", "readers")

# Events a subscriber receives (what the tray and the management window follow live).
EVENT_TYPES: dict[str, type[events.Event]] = {
    cls.__name__: cls
    for cls in (
        events.CardInserted, events.CardRemoved, events.TokenIdentified,
        events.TokenStateChanged, events.ServiceDown, events.ServiceUp,
        events.ReaderAdded, events.ReaderRemoved,
    )
}


class ProtocolError(Exception):
    """A line that is not a well-formed message (bad JSON, too long, wrong shape)."""


def encode(message: dict[str, Any]) -> bytes:
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)
    return (text + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ProtocolError("message too long")
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    return message


def redact(params: Any) -> Any:
    """A copy of `params` fit for a log: every value under a key containing "pin" masked."""
    if isinstance(params, dict):
        return {k: ("***" if "pin" in str(k).lower() else redact(v)) for k, v in params.items()}
    if isinstance(params, list):
        return [redact(v) for v in params]
    return params


# -- errors ---------------------------------------------------------------------------

def _error_classes() -> dict[str, type[errors.TraydError]]:
    found: dict[str, type[errors.TraydError]] = {}
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.TraydError):
            found[obj.__name__] = obj
    return found


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    """`{"type", "fields"}` for a TraydError; anything else becomes a TokenError."""
    if isinstance(exc, errors.TraydError) and dataclasses.is_dataclass(exc):
        fields = {f.name: _jsonable(getattr(exc, f.name)) for f in dataclasses.fields(exc)}
        return {"type": type(exc).__name__, "fields": fields}
    if isinstance(exc, errors.TraydError):
        return {"type": type(exc).__name__, "fields": {}}
    return {"type": "TokenError",
            "fields": {"code": type(exc).__name__, "detail": str(exc)}}


def error_from_wire(wire: Any) -> errors.TraydError:
    """The typed error the server raised, rebuilt; unknown types become TokenError."""
    if not isinstance(wire, dict):
        return errors.TokenError(code="PROTOCOL", detail=repr(wire))
    name = str(wire.get("type", ""))
    fields = wire.get("fields") or {}
    cls = _error_classes().get(name)
    if cls is None:
        return errors.TokenError(code=name or "UNKNOWN", detail=str(fields))
    if dataclasses.is_dataclass(cls):
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        try:
            return cls(**{k: v for k, v in fields.items() if k in known})
        except TypeError:
            return errors.TokenError(code=name, detail=str(fields))
    return cls()


# -- events ---------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, CertificateInfo):
        return value.to_json()  # without the DER: clients ask certificate_der
    if isinstance(value, TokenInfo):
        return value.to_json()
    return value


def event_to_wire(event: events.Event) -> dict[str, Any]:
    """The event's fields without `at` (a monotonic time means nothing in another process)."""
    fields = {f.name: _jsonable(getattr(event, f.name))
              for f in dataclasses.fields(event) if f.name != "at"}
    return {"type": type(event).__name__, "fields": fields}


def event_from_wire(wire: Any) -> events.Event | None:
    """Rebuild an event; None for types this client does not know (newer agent)."""
    if not isinstance(wire, dict):
        return None
    cls = EVENT_TYPES.get(str(wire.get("type")))
    if cls is None:
        return None
    fields = dict(wire.get("fields") or {})
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name == "at" or f.name not in fields:
            continue
        value = fields[f.name]
        if f.name == "atr" and isinstance(value, str):
            value = bytes.fromhex(value)
        elif f.name == "certificates" and cls is events.TokenIdentified:
            value = tuple(_build(CertificateInfo, c) for c in value or () if isinstance(c, dict))
        elif f.name == "info" and cls is events.TokenIdentified:
            value = _build(TokenInfo, value) if isinstance(value, dict) else None
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError:
        return None


# -- results --------------------------------------------------------------------------

def result_to_wire(method: str, result: Any) -> Any:
    if method == "list_tokens" or method == "list_certificates":
        return [item.to_json() for item in result]
    if method in ("login", "token_info"):
        return result.to_json() if result is not None else None
    if method == "certificate_der":
        return base64.b64encode(result).decode("ascii")
    if method == "export_certificate":
        return str(result)
    return result


def _build(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in known})


def result_from_wire(method: str, wire: Any) -> Any:
    if method == "list_tokens":
        return [_build(TokenInfo, item) for item in wire]
    if method == "list_certificates":
        return [_build(CertificateInfo, item) for item in wire]
    if method in ("login", "token_info"):
        return _build(TokenInfo, wire) if wire is not None else None
    if method == "certificate_der":
        return base64.b64decode(wire)
    if method == "export_certificate":
        from pathlib import Path

        return Path(wire)
    return wire


def listing_from_readers(wire: Any) -> tuple[list[TokenInfo], dict[str, list[CertificateInfo]]]:
    """The tokens and their certificates in a `readers` answer (the agent's token model).

    Raises PcscUnavailable while the agent sees pcscd down or refusing it: the model keeps
    the readers across an outage, but a window must not offer tokens it cannot reach."""
    state = wire.get("pcsc") if isinstance(wire, dict) else None
    if state in ("down", "denied"):
        raise errors.PcscUnavailable(denied=state == "denied")
    tokens: list[TokenInfo] = []
    certs: dict[str, list[CertificateInfo]] = {}
    for reader in (wire.get("readers") if isinstance(wire, dict) else None) or []:
        token = reader.get("token") if isinstance(reader, dict) else None
        if not isinstance(token, dict) or not isinstance(token.get("info"), dict):
            continue
        info = _build(TokenInfo, token["info"])
        tokens.append(info)
        certs[info.serial] = [_build(CertificateInfo, c) for c in token.get("certificates") or []
                              if isinstance(c, dict)]
    return tokens, certs
