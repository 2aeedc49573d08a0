"""`trayd status` against the real pcscd + vpcd, with a generic virtual card."""
from __future__ import annotations

import json

from rig.trayd_cli import run_trayd
from rig.vpcd import VirtualCard, VpcdLink


def test_status_lists_vpcd_readers_without_card(trayd_env):
    r = run_trayd("status", "--json", env=trayd_env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["pcsc"] == "up"
    names = [x["name"] for x in data["readers"]]
    assert names == ["Virtual PCD 00 00", "Virtual PCD 00 01"]
    assert all(not x["card_present"] and x["atr"] is None for x in data["readers"])


def test_status_reports_unknown_card_generically(trayd_env, pcscd_up):
    card = VirtualCard()
    with VpcdLink(card, pcscd_up.port(1)):
        r = run_trayd("status", "--json", env=trayd_env)
    data = json.loads(r.stdout)
    slot1 = data["readers"][1]
    assert slot1["card_present"] is True
    assert slot1["atr"] == card.atr.hex().upper()
    assert slot1["model"] is None
    assert data["readers"][0]["card_present"] is False


def test_status_with_pcscd_down(trayd_env, pcscd_up):
    pcscd_up.stop()
    try:
        r = run_trayd("status", "--json", env=trayd_env)
        assert r.returncode == 0
        data = json.loads(r.stdout)
        assert (data["pcsc"], data["readers"]) == ("down", [])
        assert "8010001D" in data["detail"]  # SCARD_E_NO_SERVICE, not a polkit refusal
        text = run_trayd("status", env=trayd_env)
        assert text.returncode == 0
        assert "pcscd" in text.stdout
    finally:
        pcscd_up.start()
