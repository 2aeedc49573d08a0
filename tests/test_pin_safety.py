"""The PIN's safety promises on the real stack (pcscd + vpcd + emulator + OpenSC).

- A token that answers a wrong PIN with a vague error (OpenSC#871: CKR_GENERAL_ERROR or
  CKR_DEVICE_ERROR instead of CKR_PIN_INCORRECT) still has its failures counted, so the
  try that could lock it is never sent without the last-try question.
- Failures made in another process (the CLI) count for the next one (the service of a
  new process) too; declining sends no VERIFY, proved with the emulator's APDU log.
- Exporting a certificate while logged in gives its exact bytes and never touches the
  private key (no key selection, no MSE/PSO in the card log), locally and via the agent.
"""
from __future__ import annotations

import logging

import pytest

from emulator.card import WRONG_PIN_AS_DEVICE_ERROR, WRONG_PIN_AS_GENERAL_ERROR
from rig.trayd_cli import run_trayd
from trayd import errors as E
from trayd.config import Config
from trayd.core.token_service import LocalTokenService

PIN = "12345678"
WRONG = "99999999"
KEY_USE_INS = (0x22, 0x2A)  # MANAGE SECURITY ENVIRONMENT, PERFORM SECURITY OPERATION


@pytest.fixture
def service3(home, pcscd_up):
    """A local token service that warns before the third try (max_pin_tries = 3)."""
    svc = LocalTokenService(Config(max_pin_tries=3))
    yield svc
    svc.close()


@pytest.mark.parametrize("sw,rv", [(WRONG_PIN_AS_GENERAL_ERROR, "CKR_GENERAL_ERROR"),
                                   (WRONG_PIN_AS_DEVICE_ERROR, "CKR_DEVICE_ERROR")])
def test_wrong_pin_reported_vaguely_still_counts_and_warns(service3, epass2003, caplog, sw, rv):
    caplog.set_level(logging.INFO, logger="trayd")
    tok = epass2003(max_tries=3)
    tok.card.wrong_pin_sw = sw
    for n in (1, 2):
        # Reported as unclear (it could also be a VERIFY the card never checked), but counted.
        with pytest.raises(E.TokenError) as e:
            service3.login(tok.serial, WRONG)
        assert e.value.kind == "login_unclear"
        assert service3.pin_failures(tok.serial) == n
    assert f"failed: {rv}" in caplog.text  # the emulator mode really produced that answer
    assert tok.tries_left == 1
    sent = tok.pin_checks
    with pytest.raises(E.ConfirmationRequired) as e:
        service3.login(tok.serial, WRONG)
    assert e.value.reason == "last_try"
    assert tok.pin_checks == sent and tok.tries_left == 1  # nothing reached the card
    service3.login(tok.serial, PIN, confirm_last_try=True)
    assert tok.tries_left == 3


def test_cli_failures_lead_to_the_question_in_the_next_process(trayd_env, epass2003, home):
    """Two wrong PINs through `trayd login` (its own process each), then a new service:
    the third try needs the confirmation, and declining it sends no VERIFY."""
    cfg = home / ".config" / "trayd"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text("max_pin_tries = 3\n")
    tok = epass2003(max_tries=10)  # the card itself would allow more: the count is ours
    for _ in range(2):
        r = run_trayd("login", "--pin-stdin", env=trayd_env, input=WRONG + "\n")
        assert r.returncode == 4, r.stderr
    r = run_trayd("login", "--pin-stdin", env=trayd_env, input=WRONG + "\n")
    assert r.returncode != 0 and tok.tries_left == 8, (r.returncode, r.stderr)
    sent = tok.pin_checks
    from trayd import config

    svc = LocalTokenService(config.load())
    try:
        with pytest.raises(E.ConfirmationRequired):
            svc.login(tok.serial, WRONG)
    finally:
        svc.close()
    assert tok.pin_checks == sent and tok.tries_left == 8


def _key_access(tok, since: int) -> list[str]:
    """Card commands since `since` that use or select the private key."""
    out = []
    for cmd, _resp in tok.plain_log[since:]:
        if len(cmd) >= 2 and cmd[1] in KEY_USE_INS:
            out.append(cmd.hex())
        if len(cmd) >= 7 and cmd[1] == 0xA4 and cmd[5:7] == b"\x29\x00":
            out.append(cmd.hex())  # SELECT of the key file 3F00/5015/2900
    return out


def test_export_while_logged_in_local(service3, epass2003, tmp_path):
    tok = epass2003()
    service3.login(tok.serial, PIN)
    assert tok.pin_accepted
    mark, signed = len(tok.plain_log), tok.card.signatures
    out = service3.export_certificate(tok.serial, "01", tmp_path / "user.cer")
    assert out.read_bytes() == tok.user_cert_der
    out = service3.export_certificate(tok.serial, "02", tmp_path / "root.cer")
    assert out.read_bytes() == tok.root_cert_der
    assert _key_access(tok, mark) == [] and tok.card.signatures == signed


def test_export_while_logged_in_through_the_agent(trayd_agent, notification_server,
                                                  trayd_env, dbus_session, epass2003, tmp_path):
    agent = trayd_agent()
    tok = epass2003()
    env = {**trayd_env, **dbus_session.env}
    r = run_trayd("login", "--pin-stdin", env=env, input=PIN + "\n")
    assert r.returncode == 0, r.stderr
    agent.wait_log("ipc: pid")
    assert tok.pin_accepted
    mark, signed = len(tok.plain_log), tok.card.signatures
    for cert_id, want in (("01", tok.user_cert_der), ("02", tok.root_cert_der)):
        out = tmp_path / f"{cert_id}.cer"
        r = run_trayd("export", "--id", cert_id, "-o", str(out), env=env)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == want
    assert _key_access(tok, mark) == [] and tok.card.signatures == signed
    assert agent.log_text().count("export") >= 2  # the agent did the work
