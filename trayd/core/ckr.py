"""The PKCS#11 return values OpenSC can give, what kind of failure each one is, and the
python-pkcs11 exception for each.

Why one table: a raw code ("CKR_0x00000020") reached users before (issue 11). Every value
that OpenSC 0.23–0.26's `src/pkcs11/*.c` can return is listed here with a *kind*, and
`trayd.messages` has words and a next step for every kind, so no code is ever the whole
message. The table was taken from OpenSC's sources (the CKR_ names used in src/pkcs11 at
0.23.0 and 0.26.1 are the same 88) and `pkcs11.h`; tests/test_ckr.py checks that each has
a message in Japanese and English.

Kinds: removed (token or session gone), unrecognized (not a usable token), pin (the PIN
was refused), login (login state), card (the token or its driver failed a command; also
what another application's secure-messaging session looks like, see `coexistence`),
memory, busy (sessions/operations in use), read_only, cancelled, unsupported, internal
(trayd and OpenSC disagree: a bug to report).
"""
from __future__ import annotations

# value -> (name without the CKR_ prefix, kind)
CKR: dict[int, tuple[str, str]] = {
    0x0: ("OK", "ok"),
    0x1: ("CANCEL", "cancelled"),
    0x2: ("HOST_MEMORY", "memory"),
    0x3: ("SLOT_ID_INVALID", "removed"),
    0x5: ("GENERAL_ERROR", "card"),
    0x6: ("FUNCTION_FAILED", "card"),
    0x7: ("ARGUMENTS_BAD", "internal"),
    0x8: ("NO_EVENT", "internal"),
    0x9: ("NEED_TO_CREATE_THREADS", "internal"),
    0xA: ("CANT_LOCK", "busy"),
    0x10: ("ATTRIBUTE_READ_ONLY", "read_only"),
    0x11: ("ATTRIBUTE_SENSITIVE", "internal"),
    0x12: ("ATTRIBUTE_TYPE_INVALID", "internal"),
    0x13: ("ATTRIBUTE_VALUE_INVALID", "internal"),
    0x1B: ("ACTION_PROHIBITED", "read_only"),
    0x20: ("DATA_INVALID", "card"),
    0x21: ("DATA_LEN_RANGE", "card"),
    0x30: ("DEVICE_ERROR", "card"),
    0x31: ("DEVICE_MEMORY", "memory"),
    0x32: ("DEVICE_REMOVED", "removed"),
    0x40: ("ENCRYPTED_DATA_INVALID", "card"),
    0x41: ("ENCRYPTED_DATA_LEN_RANGE", "card"),
    0x50: ("FUNCTION_CANCELED", "cancelled"),
    0x51: ("FUNCTION_NOT_PARALLEL", "busy"),
    0x54: ("FUNCTION_NOT_SUPPORTED", "unsupported"),
    0x60: ("KEY_HANDLE_INVALID", "internal"),
    0x62: ("KEY_SIZE_RANGE", "unsupported"),
    0x63: ("KEY_TYPE_INCONSISTENT", "unsupported"),
    0x64: ("KEY_NOT_NEEDED", "internal"),
    0x65: ("KEY_CHANGED", "internal"),
    0x66: ("KEY_NEEDED", "internal"),
    0x67: ("KEY_INDIGESTIBLE", "unsupported"),
    0x68: ("KEY_FUNCTION_NOT_PERMITTED", "unsupported"),
    0x69: ("KEY_NOT_WRAPPABLE", "unsupported"),
    0x6A: ("KEY_UNEXTRACTABLE", "unsupported"),
    0x70: ("MECHANISM_INVALID", "unsupported"),
    0x71: ("MECHANISM_PARAM_INVALID", "unsupported"),
    0x82: ("OBJECT_HANDLE_INVALID", "internal"),
    0x90: ("OPERATION_ACTIVE", "busy"),
    0x91: ("OPERATION_NOT_INITIALIZED", "internal"),
    0xA0: ("PIN_INCORRECT", "pin"),
    0xA1: ("PIN_INVALID", "pin"),
    0xA2: ("PIN_LEN_RANGE", "pin"),
    0xA3: ("PIN_EXPIRED", "pin"),
    0xA4: ("PIN_LOCKED", "pin"),
    0xB0: ("SESSION_CLOSED", "removed"),
    0xB1: ("SESSION_COUNT", "busy"),
    0xB3: ("SESSION_HANDLE_INVALID", "removed"),
    0xB4: ("SESSION_PARALLEL_NOT_SUPPORTED", "busy"),
    0xB5: ("SESSION_READ_ONLY", "read_only"),
    0xB6: ("SESSION_EXISTS", "busy"),
    0xB7: ("SESSION_READ_ONLY_EXISTS", "busy"),
    0xB8: ("SESSION_READ_WRITE_SO_EXISTS", "busy"),
    0xC0: ("SIGNATURE_INVALID", "card"),
    0xC1: ("SIGNATURE_LEN_RANGE", "card"),
    0xD0: ("TEMPLATE_INCOMPLETE", "internal"),
    0xD1: ("TEMPLATE_INCONSISTENT", "internal"),
    0xE0: ("TOKEN_NOT_PRESENT", "removed"),
    0xE1: ("TOKEN_NOT_RECOGNIZED", "unrecognized"),
    0xE2: ("TOKEN_WRITE_PROTECTED", "read_only"),
    0xF0: ("UNWRAPPING_KEY_HANDLE_INVALID", "internal"),
    0xF1: ("UNWRAPPING_KEY_SIZE_RANGE", "internal"),
    0xF2: ("UNWRAPPING_KEY_TYPE_INCONSISTENT", "internal"),
    0x100: ("USER_ALREADY_LOGGED_IN", "login"),
    0x101: ("USER_NOT_LOGGED_IN", "login"),
    0x102: ("USER_PIN_NOT_INITIALIZED", "pin"),
    0x103: ("USER_TYPE_INVALID", "login"),
    0x104: ("USER_ANOTHER_ALREADY_LOGGED_IN", "login"),
    0x105: ("USER_TOO_MANY_TYPES", "login"),
    0x110: ("WRAPPED_KEY_INVALID", "internal"),
    0x112: ("WRAPPED_KEY_LEN_RANGE", "internal"),
    0x113: ("WRAPPING_KEY_HANDLE_INVALID", "internal"),
    0x114: ("WRAPPING_KEY_SIZE_RANGE", "internal"),
    0x115: ("WRAPPING_KEY_TYPE_INCONSISTENT", "internal"),
    0x120: ("RANDOM_SEED_NOT_SUPPORTED", "unsupported"),
    0x121: ("RANDOM_NO_RNG", "unsupported"),
    0x130: ("DOMAIN_PARAMS_INVALID", "unsupported"),
    0x140: ("CURVE_NOT_SUPPORTED", "unsupported"),
    0x150: ("BUFFER_TOO_SMALL", "internal"),
    0x160: ("SAVED_STATE_INVALID", "internal"),
    0x170: ("INFORMATION_SENSITIVE", "internal"),
    0x180: ("STATE_UNSAVEABLE", "unsupported"),
    0x190: ("CRYPTOKI_NOT_INITIALIZED", "internal"),
    0x191: ("CRYPTOKI_ALREADY_INITIALIZED", "internal"),
    0x1A0: ("MUTEX_BAD", "internal"),
    0x1A1: ("MUTEX_NOT_LOCKED", "internal"),
    0x200: ("FUNCTION_REJECTED", "cancelled"),
    0x80000000: ("VENDOR_DEFINED", "internal"),
}
_BY_NAME = {f"CKR_{name}": rv for rv, (name, _kind) in CKR.items()}

# python-pkcs11 0.10's exception classes (its `_pkcs11.pxd` map), by class name.
_EXCEPTIONS = {
    "AnotherUserAlreadyLoggedIn": "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
    "ArgumentsBad": "CKR_ARGUMENTS_BAD", "AttributeReadOnly": "CKR_ATTRIBUTE_READ_ONLY",
    "AttributeSensitive": "CKR_ATTRIBUTE_SENSITIVE",
    "AttributeTypeInvalid": "CKR_ATTRIBUTE_TYPE_INVALID",
    "AttributeValueInvalid": "CKR_ATTRIBUTE_VALUE_INVALID", "DataInvalid": "CKR_DATA_INVALID",
    "DataLenRange": "CKR_DATA_LEN_RANGE", "DeviceError": "CKR_DEVICE_ERROR",
    "DeviceMemory": "CKR_DEVICE_MEMORY", "DeviceRemoved": "CKR_DEVICE_REMOVED",
    "DomainParamsInvalid": "CKR_DOMAIN_PARAMS_INVALID",
    "EncryptedDataInvalid": "CKR_ENCRYPTED_DATA_INVALID",
    "EncryptedDataLenRange": "CKR_ENCRYPTED_DATA_LEN_RANGE",
    "ExceededMaxIterations": "CKR_EXCEEDED_MAX_ITERATIONS",
    "FunctionCancelled": "CKR_FUNCTION_CANCELED", "FunctionFailed": "CKR_FUNCTION_FAILED",
    "FunctionNotSupported": "CKR_FUNCTION_NOT_SUPPORTED",
    "FunctionRejected": "CKR_FUNCTION_REJECTED", "GeneralError": "CKR_GENERAL_ERROR",
    "HostMemory": "CKR_HOST_MEMORY", "KeyHandleInvalid": "CKR_KEY_HANDLE_INVALID",
    "KeyIndigestible": "CKR_KEY_INDIGESTIBLE", "KeyNeeded": "CKR_KEY_NEEDED",
    "KeyNotNeeded": "CKR_KEY_NOT_NEEDED", "KeyNotWrappable": "CKR_KEY_NOT_WRAPPABLE",
    "KeySizeRange": "CKR_KEY_SIZE_RANGE", "KeyTypeInconsistent": "CKR_KEY_TYPE_INCONSISTENT",
    "KeyUnextractable": "CKR_KEY_UNEXTRACTABLE", "MechanismInvalid": "CKR_MECHANISM_INVALID",
    "MechanismParamInvalid": "CKR_MECHANISM_PARAM_INVALID", "NoEvent": "CKR_NO_EVENT",
    "ObjectHandleInvalid": "CKR_OBJECT_HANDLE_INVALID",
    "OperationActive": "CKR_OPERATION_ACTIVE",
    "OperationNotInitialized": "CKR_OPERATION_NOT_INITIALIZED",
    "PinExpired": "CKR_PIN_EXPIRED", "PinIncorrect": "CKR_PIN_INCORRECT",
    "PinInvalid": "CKR_PIN_INVALID", "PinLenRange": "CKR_PIN_LEN_RANGE",
    "PinLocked": "CKR_PIN_LOCKED", "PinTooWeak": "CKR_PIN_TOO_WEAK",
    "PublicKeyInvalid": "CKR_PUBLIC_KEY_INVALID", "RandomNoRNG": "CKR_RANDOM_NO_RNG",
    "RandomSeedNotSupported": "CKR_RANDOM_SEED_NOT_SUPPORTED",
    "SessionClosed": "CKR_SESSION_CLOSED", "SessionCount": "CKR_SESSION_COUNT",
    "SessionExists": "CKR_SESSION_EXISTS",
    "SessionHandleInvalid": "CKR_SESSION_HANDLE_INVALID",
    "SessionReadOnly": "CKR_SESSION_READ_ONLY",
    "SessionReadOnlyExists": "CKR_SESSION_READ_ONLY_EXISTS",
    "SessionReadWriteSOExists": "CKR_SESSION_READ_WRITE_SO_EXISTS",
    "SignatureInvalid": "CKR_SIGNATURE_INVALID",
    "SignatureLenRange": "CKR_SIGNATURE_LEN_RANGE", "SlotIDInvalid": "CKR_SLOT_ID_INVALID",
    "TemplateIncomplete": "CKR_TEMPLATE_INCOMPLETE",
    "TemplateInconsistent": "CKR_TEMPLATE_INCONSISTENT",
    "TokenNotPresent": "CKR_TOKEN_NOT_PRESENT",
    "TokenNotRecognised": "CKR_TOKEN_NOT_RECOGNIZED",
    "TokenWriteProtected": "CKR_TOKEN_WRITE_PROTECTED",
    "UnwrappingKeyHandleInvalid": "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
    "UnwrappingKeySizeRange": "CKR_UNWRAPPING_KEY_SIZE_RANGE",
    "UnwrappingKeyTypeInconsistent": "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
    "UserAlreadyLoggedIn": "CKR_USER_ALREADY_LOGGED_IN",
    "UserNotLoggedIn": "CKR_USER_NOT_LOGGED_IN",
    "UserPinNotInitialized": "CKR_USER_PIN_NOT_INITIALIZED",
    "UserTooManyTypes": "CKR_USER_TOO_MANY_TYPES",
    "WrappedKeyInvalid": "CKR_WRAPPED_KEY_INVALID",
    "WrappedKeyLenRange": "CKR_WRAPPED_KEY_LEN_RANGE",
    "WrappingKeyHandleInvalid": "CKR_WRAPPING_KEY_HANDLE_INVALID",
    "WrappingKeySizeRange": "CKR_WRAPPING_KEY_SIZE_RANGE",
    "WrappingKeyTypeInconsistent": "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",}

OK = 0x00
GENERAL_ERROR = 0x05
FUNCTION_FAILED = 0x06
DATA_INVALID = 0x20
DEVICE_ERROR = 0x30
DEVICE_REMOVED = 0x32
PIN_INCORRECT = 0xA0
PIN_INVALID = 0xA1
PIN_LEN_RANGE = 0xA2
PIN_LOCKED = 0xA4
SESSION_CLOSED = 0xB0
SESSION_HANDLE_INVALID = 0xB3
TOKEN_NOT_PRESENT = 0xE0
TOKEN_NOT_RECOGNIZED = 0xE1
USER_ALREADY_LOGGED_IN = 0x100
SLOT_ID_INVALID = 0x03


def name(rv: int) -> str:
    """`CKR_…` name (for logs and --json details, never the user's only words)."""
    known = CKR.get(rv)
    return f"CKR_{known[0]}" if known else f"CKR_0x{rv:08X}"


def kind(rv: int) -> str:
    """The failure kind of `rv` (see the module docstring); unknown values are "card"."""
    known = CKR.get(rv)
    if known:
        return known[1]
    return "internal" if rv & 0x80000000 else "card"


def rv_of(exc: BaseException) -> int | None:
    """The CKR value behind a python-pkcs11 exception (None if it is not one)."""
    ckr_name = _EXCEPTIONS.get(type(exc).__name__)
    return _BY_NAME.get(ckr_name) if ckr_name else None
