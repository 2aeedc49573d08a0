"""`trayd run --no-tray` against the real pcscd + vpcd and a recording notification server."""
from __future__ import annotations

import pytest

from rig.vpcd import VirtualCard, VpcdLink

EPASS_ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")
INSERTED = "トークンが挿入されました。"
REMOVED = "トークンが外されました。"


class EPassShell(VirtualCard):
    """Only the ATR of an ePass2003: enough for the monitor (recognition is by ATR)."""

    atr = EPASS_ATR


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
    link = VpcdLink(EPassShell(), pcscd_up.port(0))
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
