"""The tray component's bookkeeping without a display: events + token service → state.

The agent here is a plain object with a real EventBus and a stand-in token service
(pure logic under test: which facts the tray believes, when it asks the service, what
the notifications toggle writes). The icon itself is tested under Xvfb (test_tray_gui).
"""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from trayd import config, errors, events
from trayd.core.models import CertificateInfo, TokenInfo
from trayd.platform.launcher import Launcher
from trayd.ui.tray import TrayComponent
from trayd.ui.tray_menu import Action

EPASS_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
R0 = "Virtual PCD 00 00"


class Service:
    def __init__(self) -> None:
        self.tokens: list[TokenInfo] = []
        self.calls = 0
        self.fail: BaseException | None = None

    def list_tokens(self):
        self.calls += 1
        if self.fail:
            raise self.fail
        return list(self.tokens)

    def list_certificates(self, serial):
        return [CertificateInfo(token_serial=serial, label="User Certificate", id="01",
                                readable=True, certificate_id="ES0000000001")]


class RootPromptStub:
    """Records what the tray asks the root prompt (the real one is in test_root_prompt)."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def offer_again(self, serial: str | None = None) -> None:
        self.asked.append(serial)


def _token(logged_in=False, locked=False) -> TokenInfo:
    return TokenInfo(reader=R0, slot=0, label="EPPCERT (User PIN)", serial="2a5e",
                     manufacturer="EnterSafe", model="PKCS#15 emulated",
                     logged_in=logged_in, locked=locked)


@pytest.fixture
def tray(home):
    service = Service()
    agent = SimpleNamespace(bus=events.EventBus(), config=config.Config(), stopped=False,
                            prompt=RootPromptStub())
    agent.request_stop = lambda: setattr(agent, "stopped", True)
    comp = TrayComponent(agent.bus, agent.config, Launcher("ja"), lambda *a: None,
                         agent.request_stop, service, agent.prompt)
    comp.start()
    yield comp, agent, service
    comp.stop()


def _settle(comp: TrayComponent, pred, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred(comp.state):
            return comp.state
        time.sleep(0.02)
    raise AssertionError(f"tray state never matched: {comp.state}")


def test_insert_identify_login_remove(tray):
    comp, agent, service = tray
    _settle(comp, lambda s: comp._applied is not None)  # the first refresh is done
    calls = service.calls
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    s = _settle(comp, lambda s: s.pending_readers == (R0,))
    assert service.calls == calls  # a bare insertion does not ask the (busy) service
    service.tokens = [_token()]
    agent.bus.post(events.TokenIdentified(reader=R0, serial="2a5e", label="EPPCERT (User PIN)"))
    s = _settle(comp, lambda s: len(s.tokens) == 1)
    assert s.pending_readers == ()
    assert s.tokens[0].certificates[0].certificate_id == "ES0000000001"
    service.tokens = [_token(logged_in=True)]
    agent.bus.post(events.TokenStateChanged(serial="2a5e", logged_in=True))
    _settle(comp, lambda s: s.tokens and s.tokens[0].logged_in)
    service.tokens = []
    agent.bus.post(events.CardRemoved(reader=R0, model="ePass2003"))
    _settle(comp, lambda s: not s.tokens and not s.pending_readers)


def test_unknown_cards_are_not_tokens(tray):
    comp, agent, _service = tray
    agent.bus.post(events.CardInserted(reader=R0, atr=b"\x3b\x80", model=None))
    time.sleep(0.2)  # absence check
    assert comp.state.pending_readers == () and comp.state.tokens == ()


def test_service_errors_fall_back_to_events(tray):
    comp, agent, service = tray
    service.fail = errors.PcscUnavailable(detail="gone")
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    agent.bus.post(events.TokenIdentified(reader=R0, serial="S", label="FROM EVENT"))
    agent.bus.post(events.TokenStateChanged(serial="S", logged_in=False, locked=True))
    s = _settle(comp, lambda s: s.tokens and s.tokens[0].locked)
    assert s.tokens[0].label == "FROM EVENT"
    agent.bus.post(events.ServiceDown(detail="pcscd stopped"))
    s = _settle(comp, lambda s: s.service_down)
    assert s.tokens == ()


def test_notifications_toggle_persists(tray, home):
    comp, agent, _service = tray
    comp.perform(Action("notifications"))
    assert agent.config.notifications is False
    assert config.load().notifications is False
    _settle(comp, lambda s: s.notifications is False)
    comp.perform(Action("notifications"))
    assert config.load().notifications is True


def test_no_pin_on_a_command_line(tray):
    comp, _agent, _service = tray
    with pytest.raises(ValueError):
        comp.launcher.ui("login", "--pin", "1234")


def test_root_install_entry_asks_the_root_prompt_again(tray):
    comp, agent, service = tray
    asked = agent.prompt.asked
    assert not comp.state.root_install_available  # no token yet
    service.tokens = [_token()]
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    agent.bus.post(events.TokenIdentified(reader=R0, serial="2a5e", label="EPPCERT (User PIN)"))
    _settle(comp, lambda s: s.root_install_available)
    comp.perform(Action("root_install"))
    assert asked == ["2a5e"]


def test_certificates_read_once_per_insertion(tray):
    comp, agent, service = tray
    reads: list[str] = []
    original = service.list_certificates
    service.list_certificates = lambda serial: reads.append(serial) or original(serial)
    service.tokens = [_token()]
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    agent.bus.post(events.TokenIdentified(reader=R0, serial="2a5e", label="EPPCERT (User PIN)"))
    _settle(comp, lambda s: s.tokens and s.tokens[0].certificates)
    service.tokens = [_token(logged_in=True)]
    agent.bus.post(events.TokenStateChanged(serial="2a5e", logged_in=True))
    _settle(comp, lambda s: s.tokens and s.tokens[0].logged_in)
    assert reads == ["2a5e"]  # a login does not re-read the certificates
    service.tokens = []
    agent.bus.post(events.CardRemoved(reader=R0, model="ePass2003"))
    _settle(comp, lambda s: not s.tokens)
    service.tokens = [_token()]
    agent.bus.post(events.CardInserted(reader=R0, atr=EPASS_ATR, model="ePass2003"))
    agent.bus.post(events.TokenIdentified(reader=R0, serial="2a5e", label="EPPCERT (User PIN)"))
    _settle(comp, lambda s: s.tokens and s.tokens[0].certificates)
    assert reads == ["2a5e", "2a5e"]  # re-inserted: read again


def test_pcscd_refusing_access_is_shown_as_refused_not_stopped(tray):
    """deb13's polkit state (pcsc-lite 2.x): the icon is the error icon (by theme name) and
    the title says "refused", not "not running"; ServiceUp brings the plain state back."""
    from trayd import icons
    from trayd.ui import tray_menu

    comp, agent, _service = tray
    agent.bus.post(events.ServiceDown(detail="0x8010006A", denied=True))
    s = _settle(comp, lambda s: s.service_down)
    assert s.service_denied
    assert icons.NAMES[tray_menu.icon_state(s)] == "trayd-token-error"
    assert "polkit" in tray_menu.tooltip(s)
    agent.bus.post(events.ServiceUp())
    s = _settle(comp, lambda s: not s.service_down)
    assert "polkit" not in tray_menu.tooltip(s)
