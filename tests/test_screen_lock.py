"""Screen locking through org.freedesktop.ScreenSaver, with loginctl as the fallback."""
from __future__ import annotations

from trayd.platform import screen_lock


def test_lock_via_screensaver_service(screensaver):
    assert screen_lock.lock_screen() == "dbus"
    assert len(screensaver.wait_for(1, kind="lock")) == 1


def test_without_screensaver_falls_back_to_loginctl(dbus_session, monkeypatch):
    calls = []
    monkeypatch.setattr(screen_lock, "lock_via_loginctl", lambda: calls.append(1) or False)
    assert screen_lock.lock_screen() is None
    assert calls == [1]


def test_loginctl_missing_is_not_an_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert screen_lock.lock_via_loginctl() is False
