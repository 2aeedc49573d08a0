"""The D-Bus notifier against the recording notification server on a private bus."""
from __future__ import annotations

import logging


from rig.timing import GROSS_HANG_S
from trayd.platform.notifier import DbusNotifier, PlyerNotifier

_PENDING = object()


def wait(start, *args, **kwargs):
    """Call an asynchronous notifier method and run GLib's default context (the agent's
    loop) until its `done` callback came; return what `done` got."""
    from gi.repository import GLib

    got = [_PENDING]

    def done(value=None):
        got[0] = value

    if start.__name__ == "warm_up":
        start(done)
    else:
        start(*args, done=done, **kwargs)
    context = GLib.MainContext.default()
    deadline = GLib.get_monotonic_time() + int(GROSS_HANG_S * 1e6)
    while got[0] is _PENDING and GLib.get_monotonic_time() < deadline:
        context.iteration(True)
    assert got[0] is not _PENDING, f"{start.__name__} never called done"
    return got[0]


def test_notify_returns_id_and_carries_everything(notification_server):
    n = DbusNotifier()
    assert wait(n.warm_up)
    assert n.server and n.server[0] == "trayd-test-notifications"
    nid = wait(n.notify, "トークンが挿入されました。", "ePass2003\nリーダー: R0", icon="/x/icon.png",
                   timeout_ms=5000, hints={"urgency": 1, "category": "device.added",
                                           "transient": True})
    assert nid == 1
    [rec] = notification_server.wait_for(1)
    assert rec["app"] == "trayd" and rec["replaces_id"] == 0
    assert rec["summary"] == "トークンが挿入されました。"
    assert rec["body"] == "ePass2003\nリーダー: R0"
    assert rec["icon"] == "/x/icon.png" and rec["timeout"] == 5000
    assert rec["hints"] == {"desktop-entry": "trayd", "urgency": 1,
                            "category": "device.added", "transient": True}
    again = wait(n.notify, "updated", replaces_id=nid)
    assert again == nid
    assert notification_server.wait_for(2)[1]["replaces_id"] == nid
    n.close()


def test_no_server_logs_once_and_returns_none(dbus_session, caplog):
    n = DbusNotifier()
    with caplog.at_level(logging.WARNING, logger="trayd.platform.notifier"):
        assert wait(n.warm_up) is False
        assert wait(n.notify, "a") is None
        assert wait(n.notify, "b") is None
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_server_restart_is_survived(dbus_session):
    from rig.fixtures_dbus import RecordingService

    n = DbusNotifier()
    first = RecordingService(dbus_session, notifications=True)
    first.start()
    assert wait(n.notify, "one") == 1
    first.stop()
    assert wait(n.notify, "lost") is None
    second = RecordingService(dbus_session, notifications=True)
    second.start()
    try:
        assert wait(n.notify, "two") == 1
        assert [r["summary"] for r in second.wait_for(1)] == ["two"]
    finally:
        second.stop()


def test_plyer_path_works_with_the_test_server(notification_server, dbus_session):
    """plyer's own D-Bus path (introspection-driven) accepts the rig's server.

    In a child: plyer uses dbus.SessionBus(), whose address libdbus caches per process.
    """
    import os
    import subprocess
    import sys

    code = ("from plyer.platforms.linux.notification import NotifyDbus; "
            "NotifyDbus().notify(title='plyer', message='body', app_name='trayd', timeout=3)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30,
                   env={**os.environ, **dbus_session.env})
    [rec] = notification_server.wait_for(1)
    assert (rec["summary"], rec["body"], rec["timeout"]) == ("plyer", "body", 3000)


def test_no_session_bus_at_all(monkeypatch):
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    n = DbusNotifier()
    assert wait(n.warm_up) is False
    assert wait(n.notify, "x") is None


def test_plyer_fallback_never_raises(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    p = PlyerNotifier()
    assert wait(p.notify, "x", "y") is None
