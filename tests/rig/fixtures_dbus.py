"""D-Bus fixtures: a private session bus and recording desktop services on it.

Fixtures (all function-scoped, so each test starts from a clean desktop):

- `dbus_session` → `DbusSession`: a private `dbus-daemon` (own config: no service
  activation, so nothing but what a test starts answers). Sets DBUS_SESSION_BUS_ADDRESS
  in this process (monkeypatch) *and* offers `.env` / `.address` to merge into a child's
  environment: `env = {**trayd_env, **dbus_session.env}`.
- `notification_server` → `RecordingService` owning `org.freedesktop.Notifications`
  (real introspection XML, ids, replaces_id honoured). Every Notify becomes a dict:
  app, replaces_id, icon, summary, body, actions, hints, timeout, id, time
  (time.monotonic() at arrival). `.notifications` (list copy), `.wait_for(n)` or
  `.wait_for(predicate)` (predicate gets the list of notifications, returns truthy;
  returns the list; raises AssertionError on timeout), `.clear()`, `.stop()`.
  A hung desktop: `RecordingService(dbus_session, notifications=True, delay=8).start()`
  records each Notify on arrival but answers only after `delay` seconds.
- `screensaver` → `RecordingService` owning `org.freedesktop.ScreenSaver`
  (/org/freedesktop/ScreenSaver and /ScreenSaver); `.locks` lists the Lock() calls.
- `trayd_agent` → factory `trayd_agent(*args, env=None, config=None, wait_ready=True)`
  starting the real `trayd run --no-tray -v` (or `*args`) on the private pcscd and bus
  with the `trayd_env` HOME; `config` is TOML text for the XDG config file. Returns a
  `rig.agent_process.AgentProcess` (`.wait_log(text, count)`, `.log_text()`,
  `.stop(sig) -> (rc, seconds)`, `.threads()`, `.fds()`, `.pid`); all are stopped at
  teardown. Ready = the monitor logged "PC/SC monitor watching".

In-process dbus-python clients (the rig's services) must connect with
`dbus.bus.BusConnection(address)`: libdbus caches the session address for
the whole process, so `dbus.SessionBus()` would dial the first test's (dead) bus. Run
code that uses `dbus.SessionBus()` (plyer, …) in a child process.

Example:
    def test_x(trayd_env, dbus_session, notification_server):
        env = {**trayd_env, **dbus_session.env}
        ...
        notification_server.wait_for(lambda ns: any(n["summary"] == "…" for n in ns))
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.procs import stop_process

SERVER = Path(__file__).resolve().parent / "notification_server.py"

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class DbusSession:
    """A private session bus daemon (no activatable services)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf = self.workdir / "session.conf"
        self.conf.write_text(_CONFIG.format(dir=self.workdir))
        self.proc: subprocess.Popen | None = None
        self.address = ""

    @property
    def env(self) -> dict[str, str]:
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def start(self, timeout: float = 10.0) -> None:
        daemon = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"
        self._log = open(self.workdir / "dbus-daemon.log", "ab")
        self.proc = subprocess.Popen(
            [daemon, "--config-file", str(self.conf), "--nofork", "--print-address"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
            stderr=self._log, start_new_session=True)
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line:
            raise RuntimeError("dbus-daemon did not print its address")
        self.address = line

    def stop(self) -> None:
        stop_process(self.proc)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


class RecordingService:
    """tests/rig/notification_server.py as a child; collects its JSON records."""

    def __init__(self, session: DbusSession, *, notifications: bool = False,
                 screensaver: bool = False, delay: float = 0.0, actions: bool = False) -> None:
        self.session = session
        self.flags = (["--notifications"] if notifications else []) + (
            ["--screensaver"] if screensaver else []) + (
            ["--delay", str(delay)] if delay else []) + (["--actions"] if actions else [])
        self.records: list[dict] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self.on_record: Callable[[dict], None] | None = None  # also told of each record

    def start(self, timeout: float = 15.0) -> None:
        env = dict(os.environ)
        env.update(self.session.env)
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), *self.flags], env=env, stdout=subprocess.PIPE,
            stdin=subprocess.PIPE if "--actions" in self.flags else subprocess.DEVNULL,
            text=True, encoding="utf-8", start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._wait(lambda recs: any(r["kind"] == "ready" for r in recs), timeout,
                   what="notification server ready")

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.records.append(rec)
                self._cond.notify_all()
            if self.on_record:
                self.on_record(rec)

    def _wait(self, pred: Callable[[list[dict]], object], timeout: float, what: str):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = pred(list(self.records))
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                         f"records: {self.records[-10:]}")
                self._cond.wait(left)

    def _kind(self, kind: str) -> list[dict]:
        with self._cond:
            return [r for r in self.records if r["kind"] == kind]

    @property
    def notifications(self) -> list[dict]:
        return self._kind("notify")

    @property
    def locks(self) -> list[dict]:
        return self._kind("lock")

    def wait_for(self, what: int | Callable[[list[dict]], object], timeout: float = 10.0,
                 kind: str = "notify") -> list[dict]:
        """Wait until `what` notifications (a count, or a predicate over the list) arrived."""
        if isinstance(what, int):
            count = what

            def pred(recs: list[dict]) -> object:
                return len(recs) >= count
        else:
            pred = what
        self._wait(lambda recs: pred([r for r in recs if r["kind"] == kind]), timeout,
                   what=f"{kind} records matching {what!r}")
        return self._kind(kind)

    def invoke(self, nid: int, key: str) -> None:
        """(actions=True) Act as if the user clicked action `key` of notification `nid`:
        the server emits ActionInvoked to the client that sent it."""
        assert self.proc and self.proc.stdin, "RecordingService(actions=True) only"
        self.proc.stdin.write(json.dumps({"invoke": nid, "key": key}) + "\n")
        self.proc.stdin.flush()
        self.wait_for(lambda rs: [r for r in rs if r["id"] == nid and r["key"] == key],
                      kind="invoked")

    def clear(self) -> None:
        with self._cond:
            self.records = [r for r in self.records if r["kind"] == "ready"]

    def stop(self) -> None:
        stop_process(self.proc)
        if self._reader:
            self._reader.join(2)
        self.proc = None


@pytest.fixture
def dbus_session(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A private session bus; DBUS_SESSION_BUS_ADDRESS set here and in `.env` for children."""
    session = DbusSession(tmp_path_factory.mktemp("dbus"))
    session.start()
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session.address)
    yield session
    session.stop()


@pytest.fixture
def notification_server(dbus_session: DbusSession):
    """Records every org.freedesktop.Notifications.Notify on the private bus."""
    server = RecordingService(dbus_session, notifications=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def notification_server_actions(dbus_session: DbusSession):
    """Like `notification_server`, but advertising "actions"; `.invoke(id, key)` clicks one."""
    server = RecordingService(dbus_session, notifications=True, actions=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def screensaver(dbus_session: DbusSession):
    """Records every org.freedesktop.ScreenSaver.Lock on the private bus (`.locks`)."""
    server = RecordingService(dbus_session, screensaver=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def trayd_agent(trayd_env, dbus_session, tmp_path):
    """Factory: `trayd_agent(*args, env=None, config=None)` starts the real `trayd run`
    (default `run --no-tray -v`) on the private pcscd and bus; `config` (TOML text) is
    written to the temporary XDG config first. All started agents are stopped at the end.
    """
    from rig.agent_process import AgentProcess

    started: list[AgentProcess] = []

    def start(*args: str, env: dict | None = None, config: str | None = None,
              wait_ready: bool = True) -> AgentProcess:
        if config is not None:
            cfg_dir = Path(trayd_env["XDG_CONFIG_HOME"]) / "trayd"
            cfg_dir.mkdir(parents=True, exist_ok=True)
            (cfg_dir / "config.toml").write_text(config, encoding="utf-8")
        full_env = {**trayd_env, **dbus_session.env, **(env or {})}
        agent = AgentProcess(full_env, tmp_path / f"agent{len(started)}.log", *args)
        started.append(agent)
        return agent.start(wait_ready=wait_ready)

    yield start
    for agent in started:
        if agent.alive():
            agent.stop()
