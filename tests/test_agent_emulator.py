"""The whole chain with the emulated ePass2003: the insert notification is updated in
place with the token's label and serial once the token service has read it."""
from __future__ import annotations

INSERTED = "トークンが挿入されました。"
REMOVED = "トークンが外されました。"


def test_insert_notification_gains_label_and_serial(trayd_agent, notification_server,
                                                    epass2003):
    agent = trayd_agent(config="root_prompt = false\n")
    tok = epass2003(slot=0)
    ns = notification_server.wait_for(2, timeout=20)
    first, update = ns[0], ns[1]
    assert first["summary"] == INSERTED and first["replaces_id"] == 0
    assert first["body"] == f"ePass2003\nリーダー: {tok.reader}"
    assert update["summary"] == INSERTED
    assert update["replaces_id"] == first["id"], "the label/serial must update, not add"
    assert update["body"] == (f"ePass2003「{tok.label}」（シリアル番号: {tok.serial}）\n"
                              f"リーダー: {tok.reader}")
    tok.remove()
    ns = notification_server.wait_for(3, timeout=10)
    assert ns[2]["summary"] == REMOVED and ns[2]["replaces_id"] == 0
    assert ns[2]["body"].startswith(f"ePass2003「{tok.label}」")
    assert agent.alive()
