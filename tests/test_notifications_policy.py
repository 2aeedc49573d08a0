"""The notification policy as pure logic: wording, filters, bursts, updates, outages.

Events go into the policy's token model (`policy.model.apply`), as the agent's bus does."""
from __future__ import annotations

import pytest

from trayd import i18n
from trayd.agent.notifications import Notice, NotificationPolicy, token_name
from trayd.config import Config
from trayd.events import CardInserted, CardRemoved, ServiceDown, ServiceUp, TokenIdentified

ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(autouse=True)
def japanese():
    before = i18n.current_language()
    i18n.set_language("ja")
    yield
    i18n.set_language(before)


@pytest.fixture
def rig():
    cfg = Config()
    sent: list[Notice] = []
    timers: list[tuple[object, float]] = []
    clock = Clock()
    policy = NotificationPolicy(cfg, deliver=sent.append,
                                schedule=lambda job, delay: timers.append((job, delay)),
                                clock=clock)
    return policy, cfg, sent, timers, clock


def ins(reader="R0", model="ePass2003"):
    return CardInserted(reader=reader, atr=ATR, model=model)


def rem(reader="R0", model="ePass2003"):
    return CardRemoved(reader=reader, atr=ATR, model=model)


def test_wording_of_insert_and_remove(rig):
    policy, _cfg, sent, _t, _c = rig
    policy.model.apply(ins())
    policy.model.apply(rem())
    assert [n.summary for n in sent] == ["トークンが挿入されました。", "トークンが外されました。"]
    assert sent[0].body == "ePass2003\nリーダー: R0"
    assert (sent[0].icon_state, sent[1].icon_state) == ("present", "none")
    assert (sent[0].category, sent[1].category) == ("device.added", "device.removed")


def test_other_cards_are_generic_and_filterable(rig):
    policy, cfg, sent, _t, _c = rig
    policy.model.apply(ins(model=None))
    assert sent[-1].summary == "スマートカードが挿入されました。"
    assert sent[-1].body.startswith("スマートカード\n")
    cfg.notify_cards = "epass2003"
    policy.model.apply(rem(model=None))
    policy.model.apply(ins(model=None))
    assert len(sent) == 1
    policy.model.apply(ins(reader="R1"))
    assert len(sent) == 2
    cfg.notify_cards = "none"
    policy.model.apply(rem(reader="R1"))
    assert len(sent) == 2


def test_notifications_off_silences_everything(rig):
    policy, cfg, sent, _t, _c = rig
    cfg.notifications = False
    policy.model.apply(ins())
    policy.model.apply(ServiceDown(detail="x"))
    policy.model.apply(ServiceUp())
    assert sent == []


def test_burst_is_coalesced_into_one_summary(rig):
    policy, _cfg, sent, timers, clock = rig
    for i in range(10):  # 10 transitions in 0.9 s
        policy.model.apply(ins() if i % 2 == 0 else rem())
        clock.t += 0.1
    assert len(sent) == 5  # the first five go out at once
    assert len(timers) == 1 and timers[0][1] == 2.0  # one summary scheduled, not five
    policy.model.apply(ins())  # an 11th while the summary is pending: counted too
    clock.t += 2.0
    timers[0][0]()
    assert len(sent) == 6
    summary = sent[-1]
    assert summary.summary == "トークンの抜き差しがさらに 6 回ありました。"
    assert summary.body == "現在挿入されています: ePass2003（R0）"
    # After the burst, single transitions are told again.
    clock.t += 3.0
    policy.model.apply(rem())
    assert sent[-1].summary == "トークンが外されました。"


def test_burst_summary_with_nothing_inserted(rig):
    policy, _cfg, sent, timers, clock = rig
    for _ in range(4):
        policy.model.apply(ins())
        policy.model.apply(rem())
    clock.t += 2.5
    timers[0][0]()
    assert sent[-1].body == "現在、トークンは挿入されていません。"
    assert sent[-1].icon_state == "none"


def test_paced_transitions_are_never_coalesced(rig):
    policy, _cfg, sent, timers, clock = rig
    for i in range(50):
        policy.model.apply(ins())
        clock.t += 0.41
        policy.model.apply(rem())
        clock.t += 0.41
    assert len(sent) == 100 and timers == []


def test_identity_updates_the_insert_notification_in_place(rig):
    policy, _cfg, sent, _t, clock = rig
    policy.model.apply(ins())
    clock.t += 1.0
    policy.model.apply(TokenIdentified(reader="R0", serial="2A1B3C", label="EPPCERT"))
    assert len(sent) == 2
    update = sent[1]
    assert update.replace and update.key == sent[0].key == "card:R0"
    assert update.summary == "トークンが挿入されました。"
    assert update.body == "ePass2003「EPPCERT」（シリアル番号: 2A1B3C）\nリーダー: R0"
    # The removal names the token too.
    policy.model.apply(rem())
    assert sent[-1].body.startswith("ePass2003「EPPCERT」")
    assert not sent[-1].replace


def test_late_identity_is_kept_for_the_removal_only(rig):
    policy, _cfg, sent, _t, clock = rig
    policy.model.apply(ins())
    clock.t += 30  # the insert notification (5 s) is long gone
    policy.model.apply(TokenIdentified(reader="R0", serial="S1", label="L"))
    assert len(sent) == 1
    policy.model.apply(rem())
    assert "「L」" in sent[-1].body
    # A new token in the same reader is not named after the old one.
    policy.model.apply(ins())
    assert sent[-1].body == "ePass2003\nリーダー: R0"


def test_identity_for_an_empty_reader_is_ignored(rig):
    policy, _cfg, sent, _t, _c = rig
    policy.model.apply(TokenIdentified(reader="R9", serial="S", label="L"))
    assert sent == []


def test_service_outage_told_once_and_recovery_once(rig):
    policy, _cfg, sent, _t, _c = rig
    policy.model.apply(ServiceUp())  # up without a prior outage: nothing to say
    policy.model.apply(ServiceDown(detail="a"))
    policy.model.apply(ServiceDown(detail="b"))
    policy.model.apply(ServiceUp())
    policy.model.apply(ServiceUp())
    assert [n.summary for n in sent] == ["スマートカード サービス (pcscd) が停止しました。",
                                         "スマートカード サービス (pcscd) が再開しました。"]
    assert sent[0].urgency == 2 and sent[0].icon_state == "error"


def test_token_name_variants():
    assert token_name("ePass2003", serial="9") == "ePass2003（シリアル番号: 9）"
    assert token_name("ePass2003", label="L") == "ePass2003「L」"
    assert token_name(None) == "スマートカード"
