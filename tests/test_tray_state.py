"""The tray component without a display: bus events → the token model → the tray's state.

A real EventBus and TokenModel; the tray has no token service (everything it shows comes
with the events, certificates included). Under test: what the tray shows, what its
actions ask, what the notifications toggle writes. The icon itself is tested under Xvfb
(test_tray_gui).
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from trayd import config, events
from trayd.agent.token_model import TokenModel
from trayd.core.models import CertificateInfo
from trayd.platform.launcher import Launcher
from trayd.ui.tray import TrayComponent
from trayd.ui.tray_menu import Action

EPASS_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
R0 = "Virtual PCD 00 00"


class RootPromptStub:
    """Records what the tray asks the root prompt (the real one is in test_root_prompt)."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def offer_again(self, serial: str | None = None) -> None:
        self.asked.append(serial)


def _cert(certificate_id="ES0000000001") -> CertificateInfo:
    return CertificateInfo(token_serial="2a5e", label="User Certificate", id="01",
                           readable=True, certificate_id=certificate_id)


def identified(certificate_id="ES0000000001", locked=False, serial="2a5e",
               label="EPPCERT (User PIN)") -> events.TokenIdentified:
    return events.TokenIdentified(reader=R0, serial=serial, label=label, model="ePass2003",
                                  certificates=(_cert(certificate_id),), locked=locked)


@pytest.fixture
def tray(home):
    bus = events.EventBus()
    model = TokenModel()
    model.attach(bus)
    agent = SimpleNamespace(bus=bus, config=config.Config(), stopped=False,
                            prompt=RootPromptStub())
    agent.request_stop = lambda: setattr(agent, "stopped", True)
    comp = TrayComponent(model, agent.config, Launcher("ja"), lambda *a: None,
                         agent.request_stop, agent.prompt)
    comp.start()
    yield comp, agent
    comp.stop()


def _settle(comp: TrayComponent, pred, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred(comp.state):
            return comp.state
        time.sleep(0.02)
    raise AssertionError(f"tray state never matched: {comp.state}")


def test_insert_identify_login_remove(tray):
    comp, agent = tray
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    s = _settle(comp, lambda s: s.pending_readers == (R0,))
    assert s.tokens == ()
    agent.bus.post(identified())
    s = _settle(comp, lambda s: len(s.tokens) == 1)
    assert s.pending_readers == ()
    assert s.tokens[0].certificates[0].certificate_id == "ES0000000001"  # from the event
    agent.bus.post(events.TokenStateChanged(serial="2a5e", logged_in=True))
    _settle(comp, lambda s: s.tokens and s.tokens[0].logged_in)
    agent.bus.post(events.CardRemoved(reader=R0, model="ePass2003"))
    _settle(comp, lambda s: not s.tokens and not s.pending_readers)


def test_unknown_cards_are_not_tokens(tray):
    comp, agent = tray
    agent.bus.post(events.CardInserted(reader=R0, atr=b"\x3b\x80", model=None))
    agent.bus.post(events.CardInserted(reader="Virtual PCD 00 01", atr=EPASS_ATR,
                                       model="ePass2003"))
    s = _settle(comp, lambda s: s.pending_readers)  # the later card is there: R0 came first
    assert s.pending_readers == ("Virtual PCD 00 01",) and s.tokens == ()


def test_locked_token_and_pcscd_outage(tray):
    comp, agent = tray
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    agent.bus.post(identified(locked=True, serial="S", label="FROM EVENT"))
    s = _settle(comp, lambda s: s.tokens and s.tokens[0].locked)
    assert s.tokens[0].label == "FROM EVENT"
    agent.bus.post(events.TokenStateChanged(serial="S", logged_in=False, locked=False))
    _settle(comp, lambda s: s.tokens and not s.tokens[0].locked)
    agent.bus.post(events.ServiceDown(detail="pcscd stopped"))
    s = _settle(comp, lambda s: s.service_down)
    assert s.tokens == ()  # nothing is usable while pcscd is down
    # pcscd back with the token still in: the monitor reports nothing new, the token is shown
    agent.bus.post(events.ServiceUp())
    s = _settle(comp, lambda s: not s.service_down)
    assert [t.serial for t in s.tokens] == ["S"]


def test_notifications_toggle_persists(tray, home):
    comp, agent = tray
    comp.perform(Action("notifications"))
    assert agent.config.notifications is False
    assert config.load().notifications is False
    _settle(comp, lambda s: s.notifications is False)
    comp.perform(Action("notifications"))
    assert config.load().notifications is True


def test_no_pin_on_a_command_line(tray):
    comp, _agent = tray
    with pytest.raises(ValueError):
        comp.launcher.ui("login", "--pin", "1234")


def test_root_install_entry_asks_the_root_prompt_again(tray):
    comp, agent = tray
    asked = agent.prompt.asked
    assert not comp.state.root_install_available  # no token yet
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    agent.bus.post(identified())
    _settle(comp, lambda s: s.root_install_available)
    comp.perform(Action("root_install"))
    assert asked == ["2a5e"]


def test_each_insertion_shows_the_certificates_it_brought(tray):
    comp, agent = tray
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    agent.bus.post(identified("ES0000000001"))
    _settle(comp, lambda s: s.tokens and s.tokens[0].certificates)
    agent.bus.post(events.TokenStateChanged(serial="2a5e", logged_in=True))
    s = _settle(comp, lambda s: s.tokens and s.tokens[0].logged_in)
    assert s.tokens[0].certificates[0].certificate_id == "ES0000000001"  # kept over a login
    agent.bus.post(events.CardRemoved(reader=R0, model="ePass2003"))
    _settle(comp, lambda s: not s.tokens)
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    agent.bus.post(identified("ES0000000002"))
    s = _settle(comp, lambda s: s.tokens)
    assert s.tokens[0].certificates[0].certificate_id == "ES0000000002"
    assert not s.tokens[0].logged_in


def test_pcscd_refusing_access_is_shown_as_refused_not_stopped(tray):
    """deb13's polkit state (pcsc-lite 2.x): the icon is the error icon (by theme name) and
    the title says "refused", not "not running"; ServiceUp brings the plain state back."""
    from trayd import icons
    from trayd.ui import tray_menu

    comp, agent = tray
    agent.bus.post(events.ServiceDown(detail="0x8010006A", denied=True))
    s = _settle(comp, lambda s: s.service_down)
    assert s.service_denied
    assert icons.NAMES[tray_menu.icon_state(s)] == "trayd-token-error"
    assert "polkit" in tray_menu.tooltip(s)
    agent.bus.post(events.ServiceUp())
    s = _settle(comp, lambda s: not s.service_down)
    assert "polkit" not in tray_menu.tooltip(s)
