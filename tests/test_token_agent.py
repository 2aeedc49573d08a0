"""The agent's "tokens" component on the real stack: the real `trayd run`, the emulated
token, the recording notification server; the CLI goes through the agent when it runs."""
from __future__ import annotations

import json
import logging
import threading
import time

from rig.timing import GROSS_HANG_S
from rig.trayd_cli import run_trayd
from trayd import events
from trayd.agent.token_model import TokenModel
from trayd.config import Config
from trayd.core.expiry import ExpiryReminder
from trayd.core.token_service import LocalTokenService
from trayd.events import EventBus

PIN = "12345678"


def wait(pred, timeout=20.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out: {what}")


def test_cli_login_state_lives_in_the_agent(trayd_agent, epass2003, trayd_env, dbus_session):
    tok = epass2003()
    agent = trayd_agent()
    env = {**trayd_env, **dbus_session.env}
    tokens = wait(lambda: json.loads(run_trayd("tokens", "--json", env=env).stdout), 20, "tokens")
    assert tokens[0]["serial"] == tok.serial and tokens[0]["logged_in"] is False
    r = run_trayd("login", "--pin-stdin", env=env, input=PIN + "\n")
    assert r.returncode == 0, r.stderr
    assert "エージェントが起動していない" not in r.stdout  # went through the agent
    r = run_trayd("tokens", "--json", env=env)
    assert json.loads(r.stdout)[0]["logged_in"] is True  # the login outlived the CLI
    r = run_trayd("logout", env=env)
    assert r.returncode == 0
    assert json.loads(run_trayd("tokens", "--json", env=env).stdout)[0]["logged_in"] is False
    r = run_trayd("login", "--pin-stdin", env=env, input="00000000\n")
    assert r.returncode == 4 and "1 回 / 10 回" in r.stderr
    assert PIN not in agent.log_text()


def test_cli_honours_no_agent_while_the_agent_runs(trayd_agent, epass2003, trayd_env,
                                                  dbus_session):
    """TRAYD_NO_AGENT=1: the CLI binds the token itself even though an agent answers, so
    its login ends with the command and the agent's token stays logged out."""
    tok = epass2003()
    trayd_agent()
    env = {**trayd_env, **dbus_session.env}
    wait(lambda: json.loads(run_trayd("tokens", "--json", env=env).stdout), 20, "tokens")
    r = run_trayd("--language", "en", "login", "--pin-stdin",
                  env={**env, "TRAYD_NO_AGENT": "1"}, input=PIN + "\n")
    assert r.returncode == 0, r.stderr
    assert "No agent is running" in r.stdout  # the local path's own note
    r = run_trayd("tokens", "--json", env=env)  # through the agent
    assert json.loads(r.stdout)[0]["logged_in"] is False
    assert tok.pin_checks >= 1


def test_expiry_reminder_once_a_day(trayd_agent, epass2003, notification_server):
    # The test user certificate is valid for about two years: a long notice period makes
    # it "expiring" without faking the clock.
    agent = trayd_agent(config="expiry_warning_days = 3650\n")
    tok = epass2003()
    found = notification_server.wait_for(
        lambda ns: any("有効期限" in n["summary"] for n in ns), timeout=30)
    reminders = [n for n in found if "有効期限" in n["summary"]]
    assert len(reminders) == 1  # the user certificate; the root CA is not a reminder
    assert "ES0123456789AB" in reminders[0]["body"]
    tok.remove()
    notification_server.wait_for(lambda ns: any("外され" in n["summary"] for n in ns),
                                 timeout=20)
    tok.insert()
    agent.wait_log(f"token {tok.serial} in {tok.reader} identified", count=2, timeout=30)
    # The marker: the removal's notice goes through the same queue after any reminder.
    tok.remove()
    notification_server.wait_for(lambda ns: sum("外され" in n["summary"] for n in ns) >= 2,
                                 timeout=20)
    assert sum("有効期限" in n["summary"] for n in notification_server.notifications) == 1
    assert agent.alive()


class _Agent:
    """What the component gets from the agent: bus, config, notify, the token model, the
    loop (the real one, on a thread: `agent_loop`)."""

    def __init__(self, cfg: Config, loop) -> None:
        self.loop = loop
        self.bus = EventBus(dispatch=loop.call_soon)
        self.model = TokenModel()
        self.model.attach(self.bus)
        self.config = cfg
        self.notices: list[tuple[str, str, str]] = []

    def notify(self, summary: str, body: str = "", icon_state: str = "present") -> None:
        self.notices.append((summary, body, icon_state))


def test_component_events(home, pcscd_up, epass2003, agent_loop, caplog):
    from trayd.agent.token_component import TokenComponent

    cfg = Config(expiry_warning_days=3650)
    agent = _Agent(cfg, agent_loop)
    seen: list[events.Event] = []
    threads: set[str] = set()
    got = threading.Condition()

    def record(e: events.Event) -> None:
        threads.add(threading.current_thread().name)
        with got:
            seen.append(e)
            got.notify_all()
    agent.bus.subscribe(events.Event, record)
    component = TokenComponent(agent.bus, agent.config, agent.notify, agent.model,
                               agent_loop)
    component.start()
    try:
        tok = epass2003()
        agent.bus.post(events.CardInserted(reader=tok.reader, atr=b"", model="ePass2003"))
        ident = wait(lambda: [e for e in seen if isinstance(e, events.TokenIdentified)], 20,
                     "TokenIdentified")
        assert (ident[0].serial, ident[0].label, ident[0].reader) == (tok.serial, tok.label,
                                                                      tok.reader)
        # The certificates come with the event, DER included: nobody reads them again.
        ders = {c.der for c in ident[0].certificates}
        assert tok.user_cert_der in ders and all(c.readable for c in ident[0].certificates)
        assert agent.model.snapshot().token(tok.serial)[1].certificates == ident[0].certificates
        wait(lambda: agent.notices, 10, "expiry notice")
        assert len(agent.notices) == 1 and "ES0123456789AB" in agent.notices[0][1]
        assert any(isinstance(e, events.CertificatesExpiring) for e in seen)
        component.service.login(tok.serial, PIN)
        wait(lambda: [e for e in seen if isinstance(e, events.TokenStateChanged) and e.logged_in],
             10, "logged-in state")
        tok.remove()
        agent.bus.post(events.CardRemoved(reader=tok.reader))
        wait(lambda: [e for e in seen if isinstance(e, events.TokenStateChanged)
                      and not e.logged_in], 10, "logged out by removal")
        assert not component.service.is_logged_in(tok.serial)
        tok.insert()
        component.service.login(tok.serial, PIN)
        n = len(seen)
        agent.bus.post(events.ServiceDown(detail="test"))
        wait(lambda: [e for e in seen[n:] if isinstance(e, events.TokenStateChanged)
                      and not e.logged_in], 10, "logged out when pcscd goes away")
        # An unknown card (nothing OpenSC binds) identifies as nothing, quietly, after
        # the retries OpenSC's slow slots get.
        with caplog.at_level(logging.INFO, logger="trayd.agent.token_component"):
            agent.bus.post(events.CardInserted(reader="Virtual PCD 00 01", atr=b""))
            wait(lambda: [r for r in caplog.records
                          if "no PKCS#11 token in Virtual PCD 00 01" in r.getMessage()],
                 20, "the unknown card given up")
        assert not [e for e in seen if isinstance(e, events.TokenIdentified)
                    and e.reader == "Virtual PCD 00 01"]
        # Every handler ran on the loop, whoever posted (this thread, the PKCS#11 worker).
        assert threads == {"test-agent-loop"}, threads
    finally:
        t0 = time.monotonic()
        component.stop()
        assert time.monotonic() - t0 < GROSS_HANG_S


def test_expiry_reminder_is_per_day(home, pcscd_up, epass2003, agent_loop):
    from trayd.agent.token_component import TokenComponent

    agent = _Agent(Config(expiry_warning_days=3650), agent_loop)
    svc = LocalTokenService(agent.config)
    component = TokenComponent(agent.bus, agent.config, agent.notify, agent.model,
                               agent_loop, service=svc, reminder=ExpiryReminder())
    try:
        tok = epass2003()
        certs = svc.list_certificates(tok.serial)
        assert len(component.check_expiry(tok.serial, certs)) == 1
        assert component.check_expiry(tok.serial, certs) == []
        assert len(agent.notices) == 1
    finally:
        svc.close()
