"""The agent's token model as pure logic: events in, immutable snapshots and changes out.

Real events, a real EventBus; no hardware (the model on the real stack is covered by
test_agent_core, test_token_agent and the tray/root-prompt tests)."""
from __future__ import annotations

import dataclasses
import threading

import pytest

from trayd.agent.token_model import Change, TokenModel
from trayd.core.models import CertificateInfo, ReaderInfo, TokenInfo
from trayd.errors import PcscUnavailable
from trayd.events import (CardInserted, CardRemoved, EventBus, ReaderAdded, ReaderRemoved,
                          ServiceDown, ServiceUp, TokenIdentified, TokenStateChanged)
from trayd.ipc import protocol

ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
CERT = CertificateInfo(token_serial="S1", label="User", id="01", readable=True,
                       certificate_id="ES0000000001", der=b"\x30\x03\x02\x01\x01")


@pytest.fixture
def model() -> TokenModel:
    return TokenModel()


def test_a_token_life(model):
    model.apply(ReaderAdded(reader="R"))
    assert model.snapshot().reader("R").reader == ReaderInfo("R")
    model.apply(CardInserted(reader="R", atr=ATR, model="ePass2003"))
    model.apply(TokenIdentified(reader="R", serial="S1", label="L", certificates=(CERT,)))
    reader, token = model.snapshot().token("S1")
    assert reader.reader == ReaderInfo("R", True, ATR, "ePass2003")
    assert (token.label, token.certificates, token.logged_in) == ("L", (CERT,), False)
    model.apply(TokenStateChanged(serial="S1", logged_in=True))
    assert model.snapshot().token("S1")[1].logged_in
    assert model.snapshot().token("S1")[1].certificates == (CERT,)  # kept over a login
    model.apply(CardRemoved(reader="R", atr=ATR, model="ePass2003"))
    assert model.snapshot().token("S1") is None
    assert model.snapshot().reader("R").reader == ReaderInfo("R")  # the reader stays
    model.apply(ReaderRemoved(reader="R"))
    assert model.snapshot().readers == ()


def test_identification_after_removal_is_dropped(model):
    model.apply(CardInserted(reader="R", atr=ATR, model="ePass2003"))
    model.apply(CardRemoved(reader="R"))
    change = model.apply(TokenIdentified(reader="R", serial="S1", label="L"))
    assert change.after == change.before and change.after.tokens() == ()


def test_identification_names_an_unknown_card(model):
    model.apply(CardInserted(reader="R", atr=b"\x3b\x80", model=None))
    model.apply(TokenIdentified(reader="R", serial="S1", label="L", model="ePass2003",
                                locked=True))
    reader, token = model.snapshot().token("S1")
    assert reader.model == "ePass2003" and token.locked


def test_service_state_and_readers_across_an_outage(model):
    assert model.snapshot().service_up is None
    model.apply(ServiceUp())
    model.apply(CardInserted(reader="R", atr=ATR, model="ePass2003"))
    model.apply(TokenIdentified(reader="R", serial="S1", label="L"))
    model.apply(ServiceDown(detail="x", denied=True))
    snap = model.snapshot()
    assert (snap.service_up, snap.service_denied) == (False, True)
    # The monitor keeps the readers across an outage (a token left in is not re-reported).
    assert snap.token("S1") is not None
    model.apply(ServiceUp())
    assert (model.snapshot().service_up, model.snapshot().service_denied) == (True, False)


def test_snapshots_are_immutable_and_readers_sorted(model):
    for name in ("b", "a", "c"):
        model.apply(CardInserted(reader=name, atr=ATR, model="ePass2003"))
    snap = model.snapshot()
    assert [r.name for r in snap.readers] == ["a", "b", "c"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.service_up = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.readers[0].token = None  # type: ignore[misc]
    model.apply(CardRemoved(reader="a"))
    assert snap.reader("a").card_present  # an old snapshot never changes


def test_changes_carry_before_and_after_and_follow_the_bus(model):
    bus = EventBus()
    model.attach(bus)
    changes: list[Change] = []
    unsubscribe = model.subscribe(changes.append)
    bus.post(CardInserted(reader="R", atr=ATR, model="ePass2003"))
    bus.post(TokenIdentified(reader="R", serial="S1", label="L"))
    bus.post(CardRemoved(reader="R"))
    removal = changes[-1]
    assert isinstance(removal.event, CardRemoved)
    assert removal.before.token("S1")[1].label == "L"  # who just left
    assert removal.after.token("S1") is None
    unsubscribe()
    bus.post(CardInserted(reader="R", atr=ATR, model="ePass2003"))
    assert len(changes) == 3
    assert model.snapshot().reader("R").card_present  # still following the bus


def test_a_failing_listener_does_not_stop_the_others(model, caplog):
    got: list[Change] = []
    model.subscribe(lambda change: 1 / 0)
    model.subscribe(got.append)
    model.apply(ServiceUp())
    assert len(got) == 1 and "token model listener" in caplog.text


def test_listeners_may_read_the_model(model):
    """Listeners run outside the model's lock: reading it from one does not deadlock."""
    seen: list[bool] = []
    model.subscribe(lambda change: seen.append(model.snapshot() is change.after))
    t = threading.Thread(target=model.apply, args=(ServiceUp(),))
    t.start()
    t.join(5)
    assert seen == [True]


def test_token_identified_crosses_the_socket_without_the_der():
    ev = TokenIdentified(reader="R", serial="S1", label="L", certificates=(CERT,), locked=True)
    wire = protocol.event_to_wire(ev)
    assert "der" not in wire["fields"]["certificates"][0]
    back = protocol.event_from_wire(protocol.decode(protocol.encode({"event": wire}))["event"])
    assert back == ev  # `der` is not compared: clients ask certificate_der for it
    assert back.certificates[0].der is None and back.certificates[0].certificate_id == \
        "ES0000000001"
    assert ReaderInfo("R", True, ATR, "ePass2003").to_json()["atr"] == ATR.hex().upper()


INFO = TokenInfo(reader="R", slot=0, label="L", serial="S1", manufacturer="EnterSafe",
                 model="PKCS#15", pin_min=4, pin_max=16, flags=["login_required"])


def test_the_model_keeps_the_token_information_and_its_state():
    """The window's list is the model's (`readers` → `listing_from_readers`): the token's
    whole `TokenInfo` from identification, its login/lock state as the events say."""
    model = TokenModel()
    model.apply(CardInserted(reader="R", atr=ATR, model="ePass2003"))
    model.apply(TokenIdentified(reader="R", serial="S1", label="L", certificates=(CERT,),
                                info=INFO))
    model.apply(TokenStateChanged(serial="S1", logged_in=True))
    wire = protocol.decode(protocol.encode({"r": model.snapshot().to_json()}))["r"]
    tokens, certs = protocol.listing_from_readers(wire)
    assert tokens == [dataclasses.replace(INFO, logged_in=True)]
    assert certs["S1"][0].certificate_id == "ES0000000001" and certs["S1"][0].der is None
    model.apply(TokenStateChanged(serial="S1", logged_in=False, locked=True))
    tokens, _certs = protocol.listing_from_readers(model.snapshot().to_json())
    assert (tokens[0].logged_in, tokens[0].locked, tokens[0].pin_max) == (False, True, 16)
    # Identified without `info` (an older event): still listed, from what the entry has.
    model.apply(CardInserted(reader="Q", atr=ATR, model="ePass2003"))
    model.apply(TokenIdentified(reader="Q", serial="S2", label="M"))
    tokens, _certs = protocol.listing_from_readers(model.snapshot().to_json())
    assert [(t.serial, t.label, t.reader, t.model) for t in tokens][0] == ("S2", "M", "Q",
                                                                            "ePass2003")
    # pcscd down: the readers stay in the model, but no token is offered.
    model.apply(ServiceDown(detail="gone"))
    with pytest.raises(PcscUnavailable) as err:
        protocol.listing_from_readers(model.snapshot().to_json())
    assert not err.value.denied


def test_token_information_crosses_the_socket_in_the_event():
    ev = TokenIdentified(reader="R", serial="S1", label="L", info=INFO)
    back = protocol.event_from_wire(protocol.decode(protocol.encode(
        {"event": protocol.event_to_wire(ev)}))["event"])
    assert back.info == INFO
