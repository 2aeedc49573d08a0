"""`trayd run --no-tray` against the real pcscd + vpcd and a recording notification server."""
from __future__ import annotations

import time


from rig.vpcd import VirtualCard, VpcdLink

EPASS_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
INSERTED = "トークンが挿入されました。"
REMOVED = "トークンが外されました。"


class EPassShell(VirtualCard):
    """Only the ATR of an ePass2003: enough for the monitor (recognition is by ATR)."""

    atr = EPASS_ATR


class Slot(VpcdLink):
    """A vpcd link that keeps a card in for >= 0.3 s and waits 0.1 s after a removal:
    pcscd's vpcd driver stalls for seconds when a card leaves within milliseconds of its
    power-on, or comes back within ~0.1 s of leaving (a rig limit, not trayd's)."""

    HOLD, GAP = 0.3, 0.12

    def insert(self, *a, **kw) -> None:
        super().insert(*a, **kw)
        self.inserted_at = time.monotonic()

    def remove(self) -> None:
        if self.sock is not None:
            time.sleep(max(0.0, self.HOLD - (time.monotonic() - self.inserted_at)))
            super().remove()
            time.sleep(self.GAP)


def summaries(server, *wanted: str) -> list[str]:
    return [n["summary"] for n in server.notifications if not wanted or n["summary"] in wanted]


def wait_summaries(server, expected: list[str], timeout: float = 10.0) -> None:
    server.wait_for(lambda ns: [n["summary"] for n in ns
                                if n["summary"] in (INSERTED, REMOVED)] == expected
                    or len([n for n in ns if n["summary"] in (INSERTED, REMOVED)])
                    > len(expected), timeout=timeout)
    assert summaries(server, INSERTED, REMOVED) == expected


def test_insert_and_remove_say_the_manuals_words(trayd_agent, notification_server, pcscd_up):
    agent = trayd_agent()
    link = Slot(EPassShell(), pcscd_up.port(0))
    link.insert()
    wait_summaries(notification_server, [INSERTED])
    note = notification_server.notifications[-1]
    assert note["app"] == "trayd"
    assert "ePass2003" in note["body"] and "Virtual PCD 00 00" in note["body"]
    assert note["icon"].endswith(".png") and note["hints"]["category"] == "device.added"
    assert note["timeout"] == 5000
    link.remove()
    wait_summaries(notification_server, [INSERTED, REMOVED])
    assert notification_server.notifications[-1]["hints"]["category"] == "device.removed"
    assert agent.alive()


def test_token_present_at_start_is_told_once(trayd_agent, notification_server, pcscd_up):
    with Slot(EPassShell(), pcscd_up.port(1)):
        trayd_agent()
        wait_summaries(notification_server, [INSERTED])
        assert "Virtual PCD 00 01" in notification_server.notifications[-1]["body"]
        # A later event as the marker: a second notice for the token would come before it.
        with Slot(VirtualCard(), pcscd_up.port(0)):
            notification_server.wait_for(2)
        assert summaries(notification_server, INSERTED, REMOVED) == [INSERTED]


def test_two_tokens_in_two_readers(trayd_agent, notification_server, pcscd_up):
    trayd_agent()
    a = Slot(EPassShell(), pcscd_up.port(0))
    b = Slot(EPassShell(), pcscd_up.port(1))
    a.insert()
    b.insert()
    wait_summaries(notification_server, [INSERTED, INSERTED])
    bodies = [n["body"] for n in notification_server.notifications]
    assert any("Virtual PCD 00 00" in x for x in bodies)
    assert any("Virtual PCD 00 01" in x for x in bodies)
    a.remove()
    wait_summaries(notification_server, [INSERTED, INSERTED, REMOVED])
    assert "Virtual PCD 00 00" in notification_server.notifications[-1]["body"]
    b.remove()
    wait_summaries(notification_server, [INSERTED, INSERTED, REMOVED, REMOVED])


def test_swap_is_a_removal_and_an_insertion(trayd_agent, notification_server, pcscd_up):
    trayd_agent()
    link = Slot(EPassShell(), pcscd_up.port(0))
    link.insert()
    wait_summaries(notification_server, [INSERTED])
    other = Slot(VirtualCard(), pcscd_up.port(0))
    link.remove()
    other.insert()  # a different (generic) card in the same reader
    notification_server.wait_for(3)
    ns = notification_server.notifications
    assert [n["summary"] for n in ns] == [INSERTED, REMOVED, "スマートカードが挿入されました。"]
    assert "スマートカード" in ns[-1]["body"]
    other.remove()


def test_english(trayd_agent, notification_server, pcscd_up):
    trayd_agent(env={"TRAYD_LANGUAGE": "en"})
    with Slot(EPassShell(), pcscd_up.port(0)):
        notification_server.wait_for(1)
    notification_server.wait_for(2)
    ns = notification_server.notifications
    assert [n["summary"] for n in ns] == ["The token was inserted.", "The token was removed."]
    assert ns[0]["body"] == "ePass2003\nReader: Virtual PCD 00 00"


def test_notify_cards_epass2003_ignores_other_cards(trayd_agent, notification_server,
                                                    pcscd_up):
    agent = trayd_agent(config='notify_cards = "epass2003"\nnotification_timeout = 0\n')
    with Slot(VirtualCard(), pcscd_up.port(1)):
        agent.wait_log("CardInserted(")
    agent.wait_log("CardRemoved(")
    with Slot(EPassShell(), pcscd_up.port(0)):
        notification_server.wait_for(1)
    notification_server.wait_for(2)
    ns = notification_server.notifications
    assert [n["summary"] for n in ns] == [INSERTED, REMOVED]
    assert ns[0]["timeout"] == -1  # 0 in the config: the server decides


def test_notifications_off_is_silent(trayd_agent, notification_server, pcscd_up):
    agent = trayd_agent(config="notifications = false\n")
    with Slot(EPassShell(), pcscd_up.port(0)):
        agent.wait_log("no notice for CardInserted")
    # The policy decided on both transitions (it logs before it would have delivered).
    agent.wait_log("no notice for CardRemoved")
    assert notification_server.notifications == []
