"""Which token is this? ePass2003 by ATR + mask (OpenSC's table) or by USB reader name.

Why both: OpenSC's driver matches the ATR under a mask (later tokens differ only in masked
bytes); the USB reader name `FT ePass2003Auto` identifies the device even before the ATR
is read.
"""
from __future__ import annotations

EPASS2003 = "ePass2003"

# From OpenSC card-epass2003.c (0.23): ATR and mask.
EPASS2003_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
EPASS2003_MASK = bytes.fromhex("FFFFFFFFFFFFFFFFFFFFFFFF000000FFFFFFFF00000000")
EPASS2003_READER_MARKERS = ("ePass2003",)


def atr_matches(atr: bytes, reference: bytes, mask: bytes) -> bool:
    if len(atr) != len(reference):
        return False
    return all((a & m) == (r & m) for a, r, m in zip(atr, reference, mask))


def identify(atr: bytes | None, reader: str = "") -> str | None:
    """The model name for a card (e.g. "ePass2003"), or None for an unknown card."""
    if atr and atr_matches(atr, EPASS2003_ATR, EPASS2003_MASK):
        return EPASS2003
    if any(marker.lower() in reader.lower() for marker in EPASS2003_READER_MARKERS):
        return EPASS2003
    return None
