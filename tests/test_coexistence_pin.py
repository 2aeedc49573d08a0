"""The PIN rule when another application takes the card's SM session (issue 11 item 1).

A PIN is sent again only where the card provably did not evaluate it. The emulator's
`pin_checks` counts the PIN responses the card compared; `tries_left` is its retry
counter; trayd's own failure counter must count only real wrong PINs. The collisions are
made with the emulator's knobs (another host authenticating at a chosen command), so
each case is hit exactly; tests/test_coexistence.py does the same with a real second
OpenSC process.
"""
from __future__ import annotations

import pytest

from trayd import errors as E
from trayd.config import Config
from trayd.core.token_service import LocalTokenService
from trayd.messages import describe

PIN = "12345678"
WRONG = "87654321"


@pytest.fixture
def service(home, pcscd_up):
    states: list[tuple[str, bool, bool]] = []
    svc = LocalTokenService(Config(), on_state_change=lambda *a: states.append(a))
    svc.states = states  # type: ignore[attr-defined]
    yield svc
    svc.close()


def verifies(tok) -> int:
    return sum(1 for cmd, _ in tok.apdu_log if len(cmd) > 20 and cmd[1] == 0x82 and cmd[2] == 1)


def test_session_taken_before_login_recovers_with_one_pin_check(service, epass2003):
    tok = epass2003()
    service.list_tokens()
    tok.other_host_authenticates()
    service.login(tok.serial, PIN)
    assert tok.logged_in and tok.pin_checks == 1 and tok.tries_left == 10
    assert service.reinits == 1 and service.pin_failures(tok.serial) == 0


def test_login_refused_at_get_challenge_resends_the_pin_once(service, epass2003):
    """6988 on the login's GET CHALLENGE: VERIFY never left, so the PIN is resent."""
    tok = epass2003()
    service.list_tokens()
    tok.steal_session_on_ins(0x84, nth=2)  # 1st = trayd's probe, 2nd = C_Login's
    service.login(tok.serial, PIN)
    assert tok.pin_checks == 1 and verifies(tok) == 1 and tok.tries_left == 10
    assert service.reinits == 1 and service.pin_failures(tok.serial) == 0


def test_wrong_pin_after_a_collision_is_counted_once(service, epass2003):
    tok = epass2003()
    service.list_tokens()
    tok.other_host_authenticates()
    with pytest.raises(E.WrongPin) as e:
        service.login(tok.serial, WRONG)
    assert e.value.failures_seen == 1
    assert tok.pin_checks == 1 and tok.tries_left == 9


def test_session_taken_at_verify_is_neither_resent_nor_counted(service, epass2003):
    """6988 on the VERIFY itself: OpenSC re-authenticates and resends it, the card has no
    challenge any more (6985, no PIN check). trayd cannot prove that from CKR_GENERAL_ERROR
    alone, so it does not send the PIN again; it counts it towards the last-try question
    (tokens that answer a real wrong PIN so, OpenSC#871, must still be warned)."""
    tok = epass2003()
    service.list_tokens()
    tok.steal_session_on_ins(0x82)
    with pytest.raises(E.TokenError) as e:
        service.login(tok.serial, PIN)
    assert e.value.kind == "login_unclear" and "CKR" not in describe(e.value)
    assert tok.pin_checks == 0 and tok.tries_left == 10
    assert verifies(tok) == 2  # OpenSC's own resend; none by trayd
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
    tok = epass2003()
    service.login(tok.serial, PIN)
    tok.other_host_authenticates()  # the card's PIN state is gone with the new session
    service.change_pin(tok.serial, PIN, "Xk7#pQ2m")
    assert tok.pin_matches("Xk7#pQ2m") and tok.tries_left == 10 and tok.pin_checks == 2
    assert service.is_logged_in(tok.serial) is False
    assert service.states[-1] == (tok.serial, False, False)
