"""A real USB arrival: the token is a USB CCID device plugged into a QEMU guest.

The guest (tests/rig/usbvm.py, one boot for this module) runs udev, pcscd with libccid,
a recording notification server and `trayd run --no-tray`; the host bridge turns each
vpcd connection of the emulator into the USB device 096E:0807 on the guest's xHCI bus,
so the reader "Feitian ePass2003 00 00" appears and vanishes as with a real token.
"""
from __future__ import annotations

import json

from rig.fixtures_usbvm import INSERTED, REMOVED, notes, plug, pull

USB_READER = "Feitian ePass2003 00 00"


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
