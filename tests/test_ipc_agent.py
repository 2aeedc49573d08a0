"""The agent socket end to end: real `trayd run`, real OpenSC, the virtual ePass2003.

A front end in another process (here: this test) lists, reads, logs in and out through
the agent's one PKCS#11 worker, gets the agent's typed errors, follows events live, and
the PIN appears in no log even at debug level.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rig.agent_process import AgentProcess
from rig.tray_driver import wait_until
from trayd import errors, events
from trayd.ipc.client import connect

PIN = "73915820"  # distinctive: must not occur in certificate IDs or serials
WRONG = "40286157"


@pytest.fixture
def agent(trayd_env, dbus_session, notification_server, artifacts):
    log = artifacts / "ipc-agent.log"
    log.unlink(missing_ok=True)
    a = AgentProcess({**trayd_env, **dbus_session.env}, log, "run", "--no-tray", "-v").start()
    yield a
    if a.alive():
        a.stop()


def test_front_end_works_through_the_agent(agent, epass2003, tmp_path: Path):
    tok = epass2003(pin=PIN)
    client = connect(timeout=2)
    assert client is not None
    got: list[events.Event] = []
    changed = threading.Event()

    def on_event(e: events.Event) -> None:
        got.append(e)
        if isinstance(e, events.TokenStateChanged):
            changed.set()

    with client:
        assert client.agent_pid == agent.pid
        client.subscribe(on_event)
        tokens = wait_until(client.list_tokens, 30, "the agent lists the token")
        assert [t.label for t in tokens] == [tok.label]
        serial = tokens[0].serial
        certs = client.list_certificates(serial)
        assert {c.label for c in certs} >= {"User Certificate"}
        user = next(c for c in certs if c.label == "User Certificate")
        assert client.certificate_der(serial, user.id) == tok.user_cert_der
        out = client.export_certificate(serial, user.id, tmp_path / "user.cer")
        assert out.read_bytes() == tok.user_cert_der

        with pytest.raises(errors.WrongPin) as wrong:
            client.login(serial, WRONG)
        assert wrong.value.failures_seen == 1 and wrong.value.exit_code == 4
        info = client.login(serial, PIN)
        assert info.logged_in
        assert changed.wait(10), got
        # A wrong PIN may post its own state change first: wait for the logged-in one.
        wait_until(lambda: any(isinstance(e, events.TokenStateChanged) and e.logged_in
                               for e in got), 10, "a logged-in TokenStateChanged arrives")
        client.logout(serial)
        with pytest.raises(errors.NoSuchCertificate):
            client.certificate_der(serial, "ffff")

        tok.remove()
        wait_until(lambda: any(isinstance(e, events.CardRemoved) for e in got), 10,
                   "CardRemoved reaches the subscriber")

    log = agent.log_text()
    assert "ipc: pid" in log and "login" in log  # requests were logged at debug level
    assert PIN not in log and WRONG not in log


def test_status_shows_what_the_agent_knows_without_asking_the_card(agent, epass2003,
                                                                    trayd_env):
    """`trayd status` asks the agent's token model (the socket's `readers` query): the
    token, its certificates and its login state, and the card sees no APDU for it."""
    import json

    from rig.trayd_cli import run_trayd

    tok = epass2003(pin=PIN)

    def agent_token():
        r = run_trayd("status", "--json", env=trayd_env)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        entry = next(e for e in out["agent"]["readers"] if e["name"] == tok.reader)
        return out, entry["token"]

    wait_until(lambda: agent_token()[1], 30, "the agent identified the token")
    wait_until(tok.quiet_for, 30, "the card idle")  # the agent's own reads are over
    before = len(tok.apdu_log)
    out, token = agent_token()
    human = run_trayd("status", env=trayd_env).stdout
    assert len(tok.apdu_log) == before, "a status query reached the card"
    assert out["agent"]["pcsc"] == "up"
    assert (token["label"], token["logged_in"], token["locked"]) == (tok.label, False, False)
    labels = {c["label"] for c in token["certificates"]}
    assert "User Certificate" in labels
    assert all("der" not in c for c in token["certificates"])
    assert f"トークン: {tok.label} (シリアル番号 {token['serial']})、未ログイン" in human

    client = connect(timeout=2)
    assert client is not None
    with client:
        client.login(token["serial"], PIN)
        wait_until(lambda: agent_token()[1]["logged_in"], 30, "the model saw the login")
        assert "、ログイン中" in run_trayd("status", env=trayd_env).stdout
        client.logout(token["serial"])
    r = run_trayd("status", "--json", env={**trayd_env, "TRAYD_NO_AGENT": "1"})
    assert json.loads(r.stdout)["agent"] is None
