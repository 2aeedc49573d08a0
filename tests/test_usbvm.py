"""A real USB arrival: the token is a USB CCID device plugged into a QEMU guest.

The guest (tests/rig/usbvm.py, one boot for this module) runs udev, pcscd with libccid,
a recording notification server and `trayd run --no-tray`; the host bridge turns each
vpcd connection of the emulator into the USB device 096E:0807 on the guest's xHCI bus,
so the reader "Feitian ePass2003 00 00" appears and vanishes as with a real token.
"""
from __future__ import annotations

import json
import time

from rig.fixtures_usbvm import (PLUG_TIMEOUT, INSERTED, REMOVED, notes, plug, pull,
                                reader_of, wait_notes, wait_reader_gone)
from rig.vpcd import VirtualCard, VpcdLink
from test_cli_login import PIN, is_verify

USB_READER = "Feitian ePass2003 00 00"
PACE = 0.5  # seconds between transitions in the 20x run


def test_plug_and_pull_name_the_usb_reader(usbvm_clean, usb_token):
    vm = usbvm_clean
    tok = usb_token(plug_now=False)
    note = plug(vm, tok)
    assert note["summary"] == INSERTED
    assert "ePass2003" in note["body"] and USB_READER in note["body"]
    assert note["hints"]["category"] == "device.added"
    note = pull(vm, tok)
    assert note["summary"] == REMOVED and USB_READER in note["body"]
    assert note["hints"]["category"] == "device.removed"
    assert vm.agent_info()["alive"]
    # The rig's record of the session, as `python -m tests.rig.usbvm` writes it.
    lines = [json.loads(x) for x in (vm.out / "notifs.jsonl").read_text().splitlines()]
    assert [x["summary"] for x in lines][-2:] == [INSERTED, REMOVED]
    assert set(lines[-1]) == {"t", "summary", "body", "id", "replaces_id"}
    assert len(notes(vm, INSERTED)) == len(notes(vm, REMOVED))


def test_tokens_lists_the_usb_token_through_opensc(usbvm_clean, usb_token):
    """`trayd tokens` in the guest, through the agent and with its own OpenSC: the real
    OpenSC ePass2003 driver over libccid and USB CCID."""
    vm = usbvm_clean
    tok = usb_token()
    via_agent = vm.trayd("tokens", "--json")
    assert via_agent["rc"] == 0, via_agent["stderr"]
    listed = json.loads(via_agent["stdout"])
    assert [t["serial"] for t in listed] == [tok.serial]
    own = vm.trayd("tokens", "--json", env={"TRAYD_NO_AGENT": "1"})
    assert own["rc"] == 0, own["stderr"]
    assert [t["serial"] for t in json.loads(own["stdout"])] == [tok.serial]
    pull(vm, tok)


def test_twenty_plugs_one_notification_each_and_no_growth(usbvm_clean, usb_token):
    vm = usbvm_clean
    tok = usb_token(plug_now=False)
    for _ in range(2):  # warm-up: the first transitions open the D-Bus connection (gdbus,
        plug(vm, tok)   # gmain threads) and libpcsclite's reader threads; they stay
        pull(vm, tok)
    time.sleep(PACE)
    base = vm.agent_info()
    ins, rem = len(notes(vm, INSERTED)), len(notes(vm, REMOVED))
    last = time.monotonic()
    for _ in range(20):
        for step in (plug, pull):
            # Slower than the agent's burst rule (> 5 transitions in 2 s are coalesced).
            time.sleep(max(0.0, PACE - (time.monotonic() - last)))
            step(vm, tok)
            last = time.monotonic()
    assert vm.trayd("status", "--json")["rc"] == 0  # a round trip: late extras would show
    assert len(notes(vm, INSERTED)) == ins + 20 and len(notes(vm, REMOVED)) == rem + 20
    after = vm.agent_info()
    assert after["alive"] and after["pid"] == base["pid"]
    assert after["threads"] <= base["threads"] + 1, (base, after)
    assert after["fds"] <= base["fds"] + 2, (base, after)


def test_token_already_plugged_when_the_agent_starts(usbvm_clean, usb_token):
    vm = usbvm_clean
    vm.agent_stop()
    before = len(notes(vm, INSERTED))
    tok = usb_token(plug_now=False)
    plug(vm, tok, expect_note=False)
    vm.agent_start()
    note = wait_notes(vm, before + 1, INSERTED)[-1]
    assert USB_READER in note["body"]
    assert vm.trayd("status", "--json")["rc"] == 0  # the agent settled: still one note
    assert len(notes(vm, INSERTED)) == before + 1
    pull(vm, tok)


def test_two_tokens_plugged_at_once(usbvm_clean, usb_token):
    """The second token's reader appears while the agent's OpenSC already knows the
    first: it is listed only because slot listing asks OpenSC for the size first
    (C_GetSlotList with NULL re-detects readers; trayd/core/pkcs11_module.py)."""
    vm = usbvm_clean
    before = len(notes(vm, INSERTED))
    a = usb_token()
    listed = json.loads(vm.trayd("tokens", "--json")["stdout"])
    assert [t["serial"] for t in listed] == [a.serial]
    b = usb_token()
    got = notes(vm, INSERTED)[before:]
    readers = sorted(n["body"].split("リーダー: ")[-1] for n in got)
    assert readers == ["Feitian ePass2003 00 00", "Feitian ePass2003 01 00"]
    listed = json.loads(vm.trayd("tokens", "--json")["stdout"])
    assert sorted(t["serial"] for t in listed) == sorted([a.serial, b.serial])
    pull(vm, a)
    pull(vm, b)


def test_pulled_during_login_clear_error_agent_alive(usbvm_clean, usb_token):
    vm = usbvm_clean
    tok = usb_token()
    tok.pull_on(is_verify)
    removed = len(notes(vm, REMOVED))
    r = vm.trayd("login", "--pin-stdin", stdin=PIN + "\n")
    assert tok.pulled.is_set()
    assert r["rc"] == 1, r["stderr"]
    assert "トークンが外されました" in r["stderr"] and "Traceback" not in r["stderr"]
    wait_reader_gone(vm, reader_of(wait_notes(vm, removed + 1, REMOVED)[-1]))
    assert vm.agent_info()["alive"]
    assert tok.tries_left == 10  # the interrupted try was not counted by the card
    plug(vm, tok)
    r = vm.trayd("login", "--pin-stdin", "--json", stdin=PIN + "\n")
    assert r["rc"] == 0 and json.loads(r["stdout"])["logged_in"] is True, r["stderr"]
    pull(vm, tok)


def test_pulled_during_export_clear_error_agent_alive(usbvm_clean, usb_token):
    vm = usbvm_clean
    tok = usb_token()
    tok.pull_on_ins(0xB0)  # the next READ BINARY: the export is reading the certificate
    removed = len(notes(vm, REMOVED))
    r = vm.trayd("export", "--id", "01", "-o", "/tmp/usbvm-export.cer")
    assert tok.pulled.is_set(), r
    assert r["rc"] in (1, 3), r["stderr"]
    assert "トークン" in r["stderr"] and "Traceback" not in r["stderr"]
    assert not vm.channel.call("read", path="/tmp/usbvm-export.cer")["text"]
    assert vm.agent_info()["alive"]
    wait_notes(vm, removed + 1, REMOVED)


def test_the_usb_reader_name_alone_identifies_an_epass2003(usbvm_clean):
    """libccid names the reader after Info.plist's entry for 096E:0807; a card whose ATR
    is not the ePass2003's is still an ePass2003 there (the reader-name rule,
    trayd/core/recognition.py)."""
    vm = usbvm_clean
    before = len(notes(vm, INSERTED))
    link = VpcdLink(VirtualCard(), vm.port)  # generic ATR 3B8080010101
    link.insert(timeout=PLUG_TIMEOUT)
    note = wait_notes(vm, before + 1, INSERTED)[-1]
    assert note["body"].startswith("ePass2003") and USB_READER in note["body"]
    before = len(notes(vm, REMOVED))
    link.remove()
    wait_notes(vm, before + 1, REMOVED)
    status = [json.loads(x) for x in (vm.out / "status.jsonl").read_text().splitlines()]
    assert status and all("status" in s for s in status)
