"""The PIN rule when another application takes the card's SM session (issue 11 item 1).

A PIN is sent again only where the card provably did not evaluate it. The emulator's
`pin_checks` counts the PIN responses the card compared; `tries_left` is its retry
counter; trayd's own failure counter must count only real wrong PINs. The collisions are
made with the emulator's knobs (another host authenticating at a chosen command), so
each case is hit exactly; tests/test_coexistence.py does the same with a real second
OpenSC process.
"""
from __future__ import annotations

import time

import pytest

from trayd import errors as E
from trayd.core import opensc_version
from trayd.config import Config
from trayd.core.token_service import LocalTokenService
from trayd.messages import describe

PIN = "12345678"
WRONG = "87654321"


def verifies(tok) -> int:
    return sum(1 for cmd, _ in tok.apdu_log if len(cmd) > 20 and cmd[1] == 0x82 and cmd[2] == 1)


def test_session_taken_before_login_recovers_with_one_pin_check(service, epass2003):
    tok = epass2003()
    service.list_tokens()
    tok.steal_session_on_ins(0x84)  # at trayd's probe, before any PIN leaves
    service.login(tok.serial, PIN)
    assert service.is_logged_in(tok.serial)
    assert tok.pin_checks == 1 and verifies(tok) == 1 and tok.tries_left == 10
    assert service.reinits == 1 and service.pin_failures(tok.serial) == 0


def opensc(service) -> tuple[int, int]:
    return tuple(service._lib.library_version)


def test_login_refused_at_get_challenge(service, epass2003):
    """6988 on the login's GET CHALLENGE: VERIFY never left. OpenSC 0.23 says so
    (CKR_DATA_INVALID) and the PIN is resent once; 0.24+ answers CKR_GENERAL_ERROR, which
    63C0 also gives, so the PIN is not resent and the user is asked to try again."""
    tok = epass2003()
    service.list_tokens()
    tok.steal_session_on_ins(0x84, nth=2)  # 1st = trayd's probe, 2nd = C_Login's
    if opensc(service) < (0, 24):
        service.login(tok.serial, PIN)
        assert tok.pin_checks == 1 and verifies(tok) == 1
    else:
        with pytest.raises(E.TokenError) as e:
            service.login(tok.serial, PIN)
        assert e.value.kind == "login_unclear" and "CKR" not in describe(e.value)
        assert tok.pin_checks == 0 and verifies(tok) == 0
        service.login(tok.serial, PIN)  # the user's next try works (fresh module handle)
        assert tok.pin_checks == 1
    assert service.reinits == 1 and service.pin_failures(tok.serial) == 0
    assert tok.tries_left == 10


def test_wrong_pin_after_a_collision_is_counted_once(service, epass2003):
    tok = epass2003()
    service.list_tokens()
    tok.steal_session_on_ins(0x84)
    with pytest.raises(E.WrongPin) as e:
        service.login(tok.serial, WRONG)
    assert e.value.failures_seen == 1
    assert tok.pin_checks == 1 and tok.tries_left == 9


def test_session_taken_at_verify_is_not_resent(service, epass2003):
    """6988 on the VERIFY itself: OpenSC 0.23 re-authenticates and resends it, the card
    has no challenge any more (6985, no PIN check); 0.24+ fails on the plain 6988. Both
    give CKR_GENERAL_ERROR, which 63C0 also gives: trayd does not send the PIN again; it
    counts it towards the last-try question (tokens that answer a real wrong PIN so,
    OpenSC#871, must still be warned)."""
    tok = epass2003()
    service.list_tokens()
    tok.steal_session_on_ins(0x82)
    with pytest.raises(E.TokenError) as e:
        service.login(tok.serial, PIN)
    assert e.value.kind == "login_unclear" and "CKR" not in describe(e.value)
    assert tok.pin_checks == 0 and tok.tries_left == 10
    # OpenSC 0.23 resends it itself (0.24+ does not); trayd never does.
    assert verifies(tok) == (2 if opensc(service) < (0, 24) else 1)
    assert service.pin_failures(tok.serial) == 1
    service.login(tok.serial, PIN)  # the user's next try works
    assert tok.pin_checks == 1


def test_token_that_keeps_refusing_gets_words_not_a_code(service, epass2003):
    tok = epass2003()
    service.list_tokens()
    tok.answer_ins_with(0x84, b"\x69\x88", times=50)
    with pytest.raises(E.TokenBusy) as e:
        service.login(tok.serial, PIN)
    assert e.value.pin_may_be_checked is False
    assert "CKR" not in describe(e.value)
    assert tok.pin_checks == 0 and verifies(tok) == 0 and tok.tries_left == 10
    assert service.pin_failures(tok.serial) == 0


def test_held_login_is_reported_lost_when_the_module_is_reinitialised(service, epass2003):
    tok = epass2003(slot=0)
    other = epass2003(slot=1)
    service.login(tok.serial, PIN)
    other.steal_session_on_ins(0x84)  # a collision on the second token's login
    service.login(other.serial, PIN)
    assert service.reinits == 1
    # The re-initialised module closed every session: the first login is reported lost.
    assert service.is_logged_in(other.serial) and not service.is_logged_in(tok.serial)
    assert (tok.serial, False, False) in service.states
    assert tok.tries_left == 10 and other.tries_left == 10


def test_idle_service_sends_nothing_and_other_applications_get_the_card_back(service,
                                                                              epass2003):
    tok = epass2003()
    service.login(tok.serial, PIN)
    if opensc_version.behaviour().hands_card_back_by_reset:  # 0.24+: reset after trayd's work
        assert service.handbacks == 1 and not tok.logged_in
    else:  # 0.23: others re-authenticate by themselves; a reset would hang NSS
        assert service.handbacks == 0 and tok.logged_in
    before = len(tok.apdu_log)
    time.sleep(2)
    assert len(tok.apdu_log) == before


@pytest.mark.parametrize("ins, nth", [(0xA4, 1), (0xB0, 3)])
def test_non_pin_operation_meeting_a_collision_succeeds(service, epass2003, ins, nth):
    """Another host authenticates in the middle of a non-PIN operation (a SELECT after the
    previous operation's reset, a READ BINARY while binding a new token): the
    operation still succeeds (OpenSC re-authenticates, or trayd repeats it once on a
    re-initialised module), and no PIN is involved."""
    tok = epass2003(insert=False)
    tok.steal_session_on_ins(ins, nth=nth)
    tok.insert()
    certs = service.list_certificates(tok.serial)
    assert [c.id for c in certs] == ["01", "02"]
    assert service.reinits <= 1
    assert tok.pin_checks == 0 and tok.tries_left == 10


def test_recovering_repeats_once_then_gives_words(monkeypatch):
    """The repeat-once rule itself (pure logic: OpenSC repaired every real collision of a
    non-PIN operation above by itself, so the rule is a net that the emulator never hits)."""
    from trayd.core import ckr, coexistence

    svc = LocalTokenService(Config())
    done: list[str] = []
    monkeypatch.setattr(coexistence, "reinit", lambda s, why: done.append(why))
    collision = E.TokenError(code="CKR_GENERAL_ERROR", rv=ckr.GENERAL_ERROR, kind="card")
    answers = [collision, "ok"]

    def work():
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a
    assert svc._recovering("list", work) == "ok" and len(done) == 1
    answers[:] = [collision, collision]
    with pytest.raises(E.TokenBusy) as e:
        svc._recovering("list", work)
    assert len(done) == 2 and "CKR" not in describe(e.value)
    answers[:] = [E.TokenError(code="CKR_ARGUMENTS_BAD", rv=0x07, kind="internal")]
    with pytest.raises(E.TokenError):  # not a collision: no repeat
        svc._recovering("list", work)
    assert len(done) == 2
    svc.close()
