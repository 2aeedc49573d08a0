"""Screen locking through org.freedesktop.ScreenSaver, with loginctl as the fallback,
both asynchronous on the caller's GLib main context (here a private one per test)."""
from __future__ import annotations

from gi.repository import GLib

from trayd.platform import screen_lock


def run_until_done(start, timeout: float = 15.0):
    """Run `start(done)` on a private main context until `done(result)` came."""
    ctx = GLib.MainContext()
    ctx.push_thread_default()
    loop = GLib.MainLoop(ctx)
    result: list = []
    try:
        start(lambda value: (result.append(value), loop.quit()))
        timer = GLib.timeout_source_new(int(timeout * 1000))
        timer.set_callback(lambda *_a: loop.quit() or False)
        timer.attach(ctx)
        if not result:
            loop.run()
        timer.destroy()
    finally:
        ctx.pop_thread_default()
    assert result, f"no answer within {timeout}s"
    return result[0]


def test_lock_via_screensaver_service(screensaver):
    assert run_until_done(screen_lock.lock_screen) == "dbus"
    assert len(screensaver.wait_for(1, kind="lock")) == 1


def test_without_screensaver_falls_back_to_loginctl(dbus_session, monkeypatch):
    calls = []
    monkeypatch.setattr(screen_lock, "lock_via_loginctl",
                        lambda done: (calls.append(1), done(False)))
    assert run_until_done(screen_lock.lock_screen) is None
    assert calls == [1]


def test_without_a_session_bus_loginctl_is_tried(monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    calls = []
    monkeypatch.setattr(screen_lock, "lock_via_loginctl",
                        lambda done: (calls.append(1), done(True)))
    assert run_until_done(screen_lock.lock_screen) == "loginctl"
    assert calls == [1]


def test_loginctl_missing_is_not_an_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert run_until_done(screen_lock.lock_via_loginctl) is False


def fake_loginctl(tmp_path, monkeypatch, body: str) -> None:
    """A real `loginctl` child on PATH that runs the shell `body`."""
    fake = tmp_path / "loginctl"
    fake.write_text(f"#!/bin/sh\n{body}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))


def test_loginctl_failing_is_reported(monkeypatch, tmp_path):
    """A `loginctl` without logind answers non-zero; one that works, zero."""
    fake_loginctl(tmp_path, monkeypatch, "echo 'Failed to connect to bus' >&2; exit 1")
    assert run_until_done(screen_lock.lock_via_loginctl) is False
    fake_loginctl(tmp_path, monkeypatch, "exit 0")
    assert run_until_done(screen_lock.lock_via_loginctl) is True


def test_a_hung_loginctl_is_given_up(monkeypatch, tmp_path):
    fake_loginctl(tmp_path, monkeypatch, "sleep 30")
    monkeypatch.setattr(screen_lock, "LOGINCTL_TIMEOUT_S", 1)
    assert run_until_done(screen_lock.lock_via_loginctl, timeout=10) is False
