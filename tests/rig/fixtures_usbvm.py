"""Fixtures for the USB VM (tests/rig/usbvm.py): one guest per test module.

- `usbvm` (module scope) → a started `rig.usbvm.UsbVm`: guest booted, trayd agent
  running in it, bridge on a free 127.0.0.1 port. Booting costs 20-130 s under TCG,
  so a module boots once and its tests share the guest; each test starts from "no token
  plugged, agent running" (`usbvm_clean`).
- `usb_token` → factory `usb_token(plug=True, **epass2003_kwargs)` returning an
  `emulator.epass2003.Epass2003` whose vpcd link goes to the bridge: `tok.link.insert()`
  plugs it into the guest's USB bus, `tok.remove()` pulls it. Use `plug(tok)`/`pull(tok)`
  helpers from this module to wait for the guest's notification too.

Console, QEMU and guest logs of the last module run, and boot.json (accelerator, boot
seconds), are under tests/_artifacts/usbvm/.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

INSERTED = "トークンが挿入されました。"
REMOVED = "トークンが外されました。"
PLUG_TIMEOUT = 120.0  # USB enumeration + libccid + pcscd under TCG on a busy machine


@pytest.fixture(scope="module")
def usbvm(tmp_path_factory: pytest.TempPathFactory, artifacts: Path):
    from rig.ports import free_port_pair
    from rig.usbvm import UsbVm

    work = tmp_path_factory.mktemp("usbvm")
    vm = UsbVm(work / "vm", free_port_pair(), out=work)
    vm.start()
    yield vm
    keep = artifacts / "usbvm"
    keep.mkdir(parents=True, exist_ok=True)
    (keep / "boot.json").write_text(json.dumps({"accel": vm.accel,
                                                "boot_seconds": round(vm.boot_seconds, 1)}))
    try:  # the guest's agent and pcscd logs, for a failure in CI
        logs = vm.channel.call("run", timeout=60, argv=[
            "sh", "-c", "tail -n 400 /tmp/usbvm/agent*.log /tmp/usbvm/pcscd.log"])
        (keep / "guest-logs.txt").write_text(logs["stdout"], encoding="utf-8")
    except Exception:  # noqa: BLE001 - a dead guest has nothing more to say
        pass
    vm.stop()
    for name in ("vm/console.log", "vm/qemu.log", "notifs.jsonl", "status.jsonl",
                 "usb.jsonl"):
        src = work / name
        if src.exists():
            (keep / Path(name).name).write_bytes(src.read_bytes())


def notes(vm, *summaries: str, updates: bool = False) -> list[dict]:
    """The guest's notifications (these summaries); without `updates`, only new ones —
    the insert notification updated in place with the label (replaces_id) is the same
    transition."""
    return [n for n in vm.notifications() if (not summaries or n["summary"] in summaries)
            and (updates or not n["replaces_id"])]


def wait_notes(vm, count: int, *summaries: str, timeout: float = PLUG_TIMEOUT) -> list[dict]:
    """Wait until `count` notifications (with these summaries) arrived from the guest."""
    vm.channel.wait_event(lambda evs: len(notes(vm, *summaries)) >= count, timeout,
                          f"{count} guest notification(s) {summaries}")
    return notes(vm, *summaries)


def plug(vm, tok, expect_note: bool = True) -> dict | None:
    """Plug `tok` into the guest; wait for pcscd to power it (and for the notification)."""
    before = len(notes(vm, INSERTED))
    tok.link.insert(timeout=PLUG_TIMEOUT)
    if expect_note:
        return wait_notes(vm, before + 1, INSERTED)[-1]
    return None


def reader_of(note: dict) -> str:
    """The reader a token notification names (its body's last line, "リーダー: NAME")."""
    return note["body"].split("リーダー: ")[-1]


def guest_readers(vm) -> list[str]:
    """The readers the guest's pcscd lists now (through `trayd status --json`)."""
    res = vm.trayd("status", "--json")
    assert res["rc"] == 0, res["stderr"]
    return [r["name"] for r in json.loads(res["stdout"])["readers"]]


def wait_reader_gone(vm, reader: str | None = None, timeout: float = PLUG_TIMEOUT) -> None:
    """Wait until the guest's pcscd no longer lists `reader` (None: any reader).

    Why: the removal notification comes with the card's removal; pcscd drops the USB
    reader itself later, and a token plugged into that port before it did was never seen
    by the guest (CI: a plug 0.28 s after a pull made mid-transaction; the old reader
    stayed listed empty, the new one never came, every later plug timed out).
    """
    deadline = time.monotonic() + timeout
    while True:
        left = guest_readers(vm)
        if (reader in left) if reader else left:
            assert time.monotonic() < deadline, f"the guest still lists {left}"
            time.sleep(0.1)  # pacing between status round trips; the loop waits for the state
            continue
        return


def pull(vm, tok, expect_note: bool = True) -> dict | None:
    """Pull `tok`; with `expect_note`, wait for the notification and for its reader to go."""
    before = len(notes(vm, REMOVED))
    tok.link.remove()
    if expect_note:
        note = wait_notes(vm, before + 1, REMOVED)[-1]
        wait_reader_gone(vm, reader_of(note))
        return note
    return None


@pytest.fixture
def usbvm_clean(usbvm):
    """The module's guest with no token plugged and the agent running (restarted if a
    test stopped it); notifications of earlier tests stay in `usbvm.notifications()`."""
    info = usbvm.agent_info()
    if not info["alive"]:
        usbvm.agent_start()
    yield usbvm
    deadline = time.monotonic() + 30
    while usbvm.bridge.plugged() and time.monotonic() < deadline:
        time.sleep(0.1)
    wait_reader_gone(usbvm)  # the next test plugs into a port the guest has let go


@pytest.fixture
def usb_token(usbvm, pki) -> Callable[..., object]:
    from emulator.epass2003 import Epass2003

    made: list[Epass2003] = []

    def factory(plug_now: bool = True, **kwargs: object) -> Epass2003:
        tok = Epass2003(pki=pki, port=usbvm.port, slot=len(made), **kwargs)
        made.append(tok)
        if plug_now:
            plug(usbvm, tok)
        return tok

    yield factory
    for tok in made:
        if tok.link.inserted:
            tok.link.remove()
