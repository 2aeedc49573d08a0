"""Every PKCS#11 return value OpenSC can give has words and a next step (ja/en), never
the code itself (issue 11: 「トークンがエラーを返しました: CKR_0x00000020」 reached users)."""
from __future__ import annotations

import pkcs11.exceptions as X
import pytest

from trayd import errors as E
from trayd.core import ckr
from trayd.i18n import set_language
from trayd.messages import describe


@pytest.fixture(params=["ja", "en"])
def language(request):
    set_language(request.param)
    yield request.param
    set_language("en")


def test_every_opensc_return_value_has_words(language):
    assert len(ckr.CKR) == 88  # the CKR_ names in OpenSC 0.23.0 / 0.26.1 src/pkcs11
    texts = set()
    for rv in ckr.CKR:
        if rv == ckr.OK:
            continue
        err = E.TokenError(code=ckr.name(rv), detail="login", rv=rv, kind=ckr.kind(rv))
        text = describe(err)
        assert text and "CKR" not in text and "0x" not in text, (ckr.name(rv), text)
        if language == "ja":
            assert any(ord(ch) > 0x3000 for ch in text), (ckr.name(rv), text)
        texts.add(text)
    assert len(texts) >= 8  # words follow the kind, not one sentence for everything


def test_unknown_values_and_exceptions_still_get_words(language):
    for rv in (0x1234, 0x80000001):
        text = describe(E.TokenError(code=ckr.name(rv), rv=rv, kind=ckr.kind(rv)))
        assert "CKR" not in text
    assert ckr.rv_of(X.DataInvalid()) == ckr.DATA_INVALID
    assert ckr.rv_of(X.GeneralError()) == ckr.GENERAL_ERROR
    assert ckr.rv_of(ValueError()) is None
    # A code without kind from an older agent (over IPC) is still worded.
    assert "CKR" not in describe(E.TokenError(code="CKR_0x00000020", detail="login"))


def test_busy_words(language):
    for checked in (False, True):
        text = describe(E.TokenBusy(serial="x", operation="login", pin_may_be_checked=checked))
        assert text and "CKR" not in text
