"""PIN rules checked before anything reaches the token, and the 強度チェック meter."""
from __future__ import annotations

import pytest

from trayd.core import pin_policy as P
from trayd.errors import PinPolicyError


@pytest.mark.parametrize("pin, reason", [("", "empty"), ("123", "too_short"),
                                         ("1" * 17, "too_long")])
def test_length_refused(pin, reason):
    with pytest.raises(PinPolicyError) as e:
        P.check_length(pin, 4, 16)
    assert e.value.reason == reason and e.value.exit_code == 2
    assert (e.value.minimum, e.value.maximum) == (4, 16)


def test_length_counts_bytes_and_accepts_bounds():
    P.check_length("1234", 4, 16)
    P.check_length("x" * 16, 4, 16)
    with pytest.raises(PinPolicyError):
        P.check_length("ああああああ", 4, 16)  # 18 bytes in UTF-8
    P.check_length("12", None, None)  # unknown bounds: only emptiness is refused


@pytest.mark.parametrize("pin, level", [
    ("12345678", P.Strength.LOW),  # digits only and a run
    ("83920174", P.Strength.LOW),  # digits only
    ("aaaaaaaa", P.Strength.LOW),  # repeats
    ("password", P.Strength.LOW),
    ("Ab1", P.Strength.LOW),  # short
    ("8392017a", P.Strength.MEDIUM),
    ("Abc12345", P.Strength.MEDIUM),  # 3 classes but a run
    ("k7Rp2qWz", P.Strength.MEDIUM),  # 8 characters, 3 classes
    ("Xk7#pQ2m", P.Strength.HIGH),
    ("tR8#kL2!vQ9z", P.Strength.HIGH),
])
def test_strength(pin, level):
    assert P.strength(pin) == level


def test_equal_to_current_is_low():
    assert P.strength("Xk7#pQ2m", current="Xk7#pQ2m") == P.Strength.LOW


def test_sequences_and_repeats():
    assert P.has_sequence("xx1234yy") and P.has_sequence("dcba") and P.has_sequence("ABCD")
    assert not P.has_sequence("1357") and not P.has_sequence("12a34")
    assert P.has_repeats("ab111c") and P.has_repeats("abababab")
    assert not P.has_repeats("abcdef12")


def test_check_new_pin_order():
    with pytest.raises(PinPolicyError) as e:
        P.check_new_pin("12345678", "Xk7#pQ2m", "Xk7#pQ2n", 4, 16)
    assert e.value.reason == "mismatch"
    with pytest.raises(PinPolicyError) as e:
        P.check_new_pin("12345678", "12345678", "12345678", 4, 16)
    assert e.value.reason == "same_as_current"
    with pytest.raises(PinPolicyError) as e:
        P.check_new_pin("12345678", "k7", "k7", 4, 16)
    assert e.value.reason == "too_short"
    with pytest.raises(PinPolicyError) as e:
        P.check_new_pin("1", "k7Rp2qWz", "k7Rp2qWz", 4, 16)
    assert e.value.reason == "too_short"  # the current PIN's length is checked too
    assert P.check_new_pin("12345678", "Xk7#pQ2m", "Xk7#pQ2m", 4, 16) == P.Strength.HIGH


def test_labels_follow_language():
    from trayd import i18n

    try:
        i18n.set_language("ja")
        assert [s.label for s in P.Strength] == ["低", "中", "高"]
        i18n.set_language("en")
        assert [s.label for s in P.Strength] == ["low", "medium", "high"]
    finally:
        i18n.set_language("auto")
