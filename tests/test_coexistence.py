"""trayd beside another PKCS#11 application on one ePass2003 (issue 11, items 1–3).

The other application is tests/rig/pkcs11_peer.py: its own process, its own OpenSC,
logged in, signing on demand, like a browser. The card has one secure-messaging session,
so every agent operation that reaches the card takes it from the peer and the peer's
next signature takes it back. Every step must succeed and the card must spend no PIN try
(`tries_left` stays at the maximum); `pin_checks` is the emulator's own count of PIN
evaluations, which proves where a PIN was (not) resent.
"""
from __future__ import annotations

import time

import pytest

from rig.trayd_cli import run_trayd

PIN = "12345678"
NEW = "Xk7#pQ2m"
SM_MODES = ("aes", "des")
INSERTED = "トークンが挿入されました。"


def is_verify(apdu: bytes) -> bool:
    """A PIN VERIFY carrying a PIN response (not the retry-counter query)."""
    return len(apdu) > 20 and apdu[1] == 0x82 and apdu[2] == 0x01


@pytest.fixture
def agent_env(trayd_env, openssl_legacy_env):
    """The agent and CLI with OpenSSL's legacy provider (OpenSC 0.23 single-DES SM)."""
    return {**trayd_env, **openssl_legacy_env}


@pytest.mark.parametrize("sm", SM_MODES)
def test_agent_and_peer_alternate_every_operation(sm, agent_env, trayd_agent, epass2003,
                                                  pkcs11_peer, notification_server, tmp_path):
    agent = trayd_agent(env=agent_env, config="root_prompt = false\n")
    tok = epass2003(sm=sm)
    notification_server.wait_for(2, timeout=20)  # inserted + its label/serial update
    peer = pkcs11_peer()
    peer.login(PIN)

    def peer_signs(step: str) -> None:
        data = f"peer after {step}".encode()
        peer.verify(peer.sign(data), data, tok.user_cert_der)
        assert tok.tries_left == tok.card.max_tries, f"a PIN try was spent around {step}"

    def trayd(step: str, *args: str, stdin: str | None = None) -> str:
        r = run_trayd(*args, env=agent_env, input=stdin)
        assert r.returncode == 0, (step, r.stdout, r.stderr, agent.log_text()[-3000:])
        assert "CKR" not in r.stdout + r.stderr
        assert tok.tries_left == tok.card.max_tries, f"a PIN try was spent by {step}"
        return r.stdout

    peer_signs("login")
    assert tok.serial in trayd("tokens", "tokens")
    peer_signs("tokens")
    assert "User Certificate" in trayd("certs", "certs")
    peer_signs("certs")
    trayd("login", "login", "--pin-stdin", stdin=PIN + "\n")
    peer_signs("trayd login")
    trayd("export", "export", "--id", "01", "-o", str(tmp_path / "u.cer"))
    assert (tmp_path / "u.cer").read_bytes() == tok.user_cert_der
    peer_signs("export")
    trayd("logout", "logout")
    peer_signs("logout")
    trayd("login again", "login", "--pin-stdin", stdin=PIN + "\n")
    peer_signs("second login")
    checks = tok.pin_checks
    trayd("change-pin", "change-pin", "--pin-stdin", stdin=f"{PIN}\n{NEW}\n{NEW}\n")
    assert tok.pin_matches(NEW)
    # Not signing here: the peer's OpenSC caches the PIN it logged in with and would
    # re-verify the old one (OpenSC's doing, a try spent by the peer, not by trayd).
    trayd("change-pin back", "change-pin", "--pin-stdin", "--yes", stdin=f"{NEW}\n{PIN}\n{PIN}\n")
    assert tok.pin_matches(PIN)
    # Each change verified the current PIN once, plus once more inside C_SetPIN on
    # OpenSC 0.24+ (it verifies the old PIN itself); never a resend after a failure.
    per_change = 1 if peer.library_version < (0, 24) else 2
    assert tok.pin_checks - checks == 2 * per_change
    peer_signs("change-pin back")
    # trayd hands the card back with a reset after its work: that must not look like a
    # removal or a new token to the agent (no further notifications).
    assert [n["summary"] for n in notification_server.notifications] == [INSERTED] * 2
    assert agent.alive()


def test_idle_agent_sends_the_card_nothing(agent_env, trayd_agent, epass2003, pkcs11_peer):
    tok = epass2003()
    agent = trayd_agent(env=agent_env, config="root_prompt = false\n")
    r = run_trayd("login", "--pin-stdin", env=agent_env, input=PIN + "\n")
    assert r.returncode == 0, r.stderr
    peer = pkcs11_peer()
    peer.login(PIN)
    peer.sign(b"take the session")
    before = len(tok.apdu_log)
    time.sleep(6)  # > 10 pcscd/vpcd polls and any periodic agent work
    idle = tok.apdu_log[before:]
    assert idle == [], f"the idle agent sent {len(idle)} APDUs: {idle[:3]}"
    # ... and the peer keeps its session: its next signature needs no re-authentication.
    before = len(tok.apdu_log)
    peer.sign(b"still mine")
    assert [c[1] for c, _ in tok.apdu_log[before:]] == [0x22, 0x2A]
    assert agent.alive()
