"""User PIN rules checked BEFORE anything is sent to the token (manual §4.2, §4.5).

Why before: every wrong VERIFY costs one of the token's tries (10 on EPPCERT tokens) and
a PIN of the wrong length can never be right, so it must not cost a try. The strength
meter (強度チェック: 低 / 中 / 高) mirrors the management tool's: length, character
classes, repeated characters, runs like "1234"/"abcd", and equality with the current PIN.
"""
from __future__ import annotations

import enum
import string

from trayd.errors import PinPolicyError
from trayd.i18n import _


class Strength(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        """低 / 中 / 高 in Japanese, low / medium / high in English."""
        return {Strength.LOW: _("low"), Strength.MEDIUM: _("medium"),
                Strength.HIGH: _("high")}[self]


def check_length(pin: str, pin_min: int | None, pin_max: int | None) -> None:
    """Refuse an empty PIN or one outside the token's min/max (PinPolicyError)."""
    if not pin:
        raise PinPolicyError(reason="empty", minimum=pin_min, maximum=pin_max)
    n = len(pin.encode("utf-8"))  # the token counts bytes
    if pin_min and n < pin_min:
        raise PinPolicyError(reason="too_short", minimum=pin_min, maximum=pin_max)
    if pin_max and n > pin_max:
        raise PinPolicyError(reason="too_long", minimum=pin_min, maximum=pin_max)


def _classes(pin: str) -> int:
    kinds = (
        any(c in string.ascii_lowercase for c in pin),
        any(c in string.ascii_uppercase for c in pin),
        any(c in string.digits for c in pin),
        any(not (c in string.ascii_letters or c in string.digits) for c in pin),
    )
    return sum(kinds)


def has_repeats(pin: str) -> bool:
    """Three equal characters in a row, or fewer distinct characters than half the length."""
    if any(pin[i] == pin[i + 1] == pin[i + 2] for i in range(len(pin) - 2)):
        return True
    return len(pin) >= 4 and len(set(pin)) * 2 <= len(pin)


def has_sequence(pin: str, run: int = 4) -> bool:
    """A run of `run` characters going up or down by one (1234, 4321, abcd, DCBA)."""
    low = pin.lower()
    for step in (1, -1):
        length = 1
        for a, b in zip(low, low[1:]):
            length = length + 1 if ord(b) - ord(a) == step and a.isalnum() and b.isalnum() else 1
            if length >= run:
                return True
    return False


def strength(pin: str, current: str | None = None) -> Strength:
    """低 / 中 / 高 for a new PIN (what the 強度チェック box shows)."""
    if not pin or (current is not None and pin == current):
        return Strength.LOW
    n = len(pin)
    score = 0 if n < 6 else 1 if n < 8 else 2 if n < 12 else 3
    score += _classes(pin) - 1
    if has_repeats(pin):
        score -= 1
    if has_sequence(pin):
        score -= 1
    if score <= 2:
        return Strength.LOW
    if score <= 4:
        return Strength.MEDIUM
    return Strength.HIGH


def check_new_pin(current: str, new: str, repeat: str, pin_min: int | None,
                  pin_max: int | None) -> Strength:
    """All refusals for a PIN change, in the order the user fixes them; returns the strength.

    The caller decides what to do with a LOW result (the CLI asks for `--yes`).
    """
    check_length(current, pin_min, pin_max)
    check_length(new, pin_min, pin_max)
    if new != repeat:
        raise PinPolicyError(reason="mismatch", minimum=pin_min, maximum=pin_max)
    if new == current:
        raise PinPolicyError(reason="same_as_current", minimum=pin_min, maximum=pin_max)
    return strength(new, current)
