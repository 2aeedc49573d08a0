"""RawModule.slot_list asks the size first, so OpenSC sees readers plugged in later.

A fake C_GetSlotList that behaves like OpenSC's: the reader list is refreshed only on a
call with pSlotList NULL (pure logic; the real case, a second USB reader appearing under
a running agent, is test_usbvm.py::test_two_tokens_plugged_at_once).
"""
from __future__ import annotations

from trayd.core.pkcs11_module import CKR_BUFFER_TOO_SMALL, CKR_OK, RawModule


class OpenscLikeSlotList:
    """Readers "plugged" into `attached` become slots only at a NULL (size) call."""

    def __init__(self, slots: list[int]) -> None:
        self.known = list(slots)
        self.attached = list(slots)
        self.calls: list[bool] = []  # True = called with pSlotList NULL
        self.race: list[int] = []  # readers that appear right after the next size query

    def __call__(self, present: int, buf, pcount) -> int:
        count = pcount._obj
        self.calls.append(buf is None)
        if buf is None:
            self.known = list(self.attached)
            count.value = len(self.known)
            if self.race:
                self.attached += self.race
                self.known = list(self.attached)
                self.race = []
            return CKR_OK
        if count.value < len(self.known):
            count.value = len(self.known)
            return CKR_BUFFER_TOO_SMALL
        for i, slot in enumerate(self.known):
            buf[i] = slot
        count.value = len(self.known)
        return CKR_OK


def raw_with(fake: OpenscLikeSlotList) -> RawModule:
    raw = RawModule.__new__(RawModule)
    raw._dll = type("Dll", (), {"C_GetSlotList": staticmethod(fake)})()
    return raw


def test_a_reader_plugged_after_initialize_is_listed():
    fake = OpenscLikeSlotList([0])
    raw = raw_with(fake)
    assert raw.slot_list() == (CKR_OK, [0])
    fake.attached.append(4)  # the USB token arrives
    assert raw.slot_list() == (CKR_OK, [0, 4])
    assert fake.calls[0] is True and fake.calls[-2:] == [True, False]


def test_a_reader_appearing_between_size_and_list_is_retried():
    fake = OpenscLikeSlotList([1])
    fake.race = [2, 3]
    assert raw_with(fake).slot_list() == (CKR_OK, [1, 2, 3])
    assert fake.calls == [True, False, True, False]


def test_no_slot_and_errors():
    assert raw_with(OpenscLikeSlotList([])).slot_list() == (CKR_OK, [])

    def failing(present, buf, pcount) -> int:
        return 0x30  # CKR_DEVICE_ERROR
    raw = RawModule.__new__(RawModule)
    raw._dll = type("Dll", (), {"C_GetSlotList": staticmethod(failing)})()
    assert raw.slot_list() == (0x30, [])
