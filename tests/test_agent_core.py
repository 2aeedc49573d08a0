"""The Agent in-process: components, main-loop owner, stop, notify(), readers snapshot."""
from __future__ import annotations

import threading
import time

import pytest

from rig.timing import GROSS_HANG_S
from trayd.agent.agent import Agent
from trayd.agent.composition import build, compose
from trayd.config import Config
from trayd.errors import AlreadyRunning
from trayd.events import CardInserted, CardRemoved, ReaderAdded, ServiceDown, TokenIdentified

ATR = bytes.fromhex("3B9F958131FE9F006646530500000071DF000000000000")


class FakeNotifier:
    """Pure-logic stand-in for the D-Bus notifier (the real one is tested elsewhere)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.event = threading.Event()

    def warm_up(self, done) -> None:
        done(True)

    def notify(self, summary, body="", *, icon="", timeout_ms=-1, replaces_id=0, hints=None,
               actions=(), done=None):
        self.calls.append((summary, body, icon, timeout_ms, replaces_id, dict(hints or {})))
        self.event.set()
        if done is not None:
            done(len(self.calls))

    def close(self) -> None:
        pass

    def wait(self, n: int, timeout: float = 5.0) -> list[tuple]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.calls) >= n, self.calls
        return self.calls


class Recorder:
    name = "recorder"

    def __init__(self, bus) -> None:
        self.bus = bus
        self.log: list[str] = []

    def start(self) -> None:
        self.log.append("start")
        self.bus.subscribe(CardInserted, lambda e: self.log.append(f"ins:{e.reader}"))

    def stop(self) -> None:
        self.log.append("stop")


class Broken:
    name = "broken"

    def start(self) -> None:
        raise RuntimeError("boom")

    def stop(self) -> None:
        raise AssertionError("never started, never stopped")


class Owner:
    """Plays the tray: owns the main loop until stop_main_loop()."""

    def __init__(self) -> None:
        self.quit = threading.Event()
        self.ran = False

    def run_main_loop(self) -> None:
        self.ran = True
        self.quit.wait()

    def stop_main_loop(self) -> None:
        self.quit.set()

    def loop_running(self) -> bool:
        return self.ran and not self.quit.is_set()


@pytest.fixture
def agent(home, pcscd_up):
    # A card an earlier test just pulled may still be "present" for up to 0.4 s (pcscd
    # polls vpcd); start from empty readers so only this test's events are seen.
    from trayd.core.pcsc import snapshot

    deadline = time.monotonic() + 3
    while any(r.card_present for r in snapshot()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return Agent(Config(), tray=False, notifier=FakeNotifier())


def run_in_thread(agent: Agent) -> threading.Thread:
    t = threading.Thread(target=agent.run, daemon=True)
    t.start()
    assert agent.monitor.ready.wait(10)
    return t


def test_components_start_stop_and_a_broken_one_is_skipped(agent, caplog):
    rec = Recorder(agent.bus)
    agent.add_component(Broken())
    agent.add_component(rec)
    t = run_in_thread(agent)
    agent.bus.post(CardInserted(reader="X", atr=ATR, model="ePass2003"))
    agent.request_stop()
    t.join(2)
    assert not t.is_alive()
    assert rec.log == ["start", "ins:X", "stop"]
    assert "component broken failed to start" in caplog.text


def test_main_loop_owner_is_run_and_stopped(agent):
    owner = Owner()
    agent.set_main_loop_owner(owner)
    t = run_in_thread(agent)
    time.sleep(0.1)
    assert owner.ran
    t0 = time.monotonic()
    agent.request_stop()
    t.join(GROSS_HANG_S)
    assert not t.is_alive() and time.monotonic() - t0 < GROSS_HANG_S


def test_notify_respects_the_switch(agent):
    t = run_in_thread(agent)
    try:
        agent.notify("hello", "world", icon_state="logged_in")
        calls = agent.worker.notifier.wait(1)
        assert calls[0][:2] == ("hello", "world")
        assert calls[0][2].endswith("/apps/trayd-token-logged-in.png")
        agent.config.notifications = False
        agent.notify("quiet")
        agent.config.notifications = True
        agent.notify("marker")  # through the same worker: "quiet" would come before it
        calls = agent.worker.notifier.wait(2)
        assert [c[0] for c in calls] == ["hello", "marker"]
    finally:
        agent.request_stop()
        t.join(2)


def test_the_token_model_follows_the_bus_before_anyone_else(agent):
    """Any subscriber sees the model already updated; snapshots are copies, not views.

    The bus delivers on the agent's loop: each post is followed by running that loop."""
    bus, model = agent.bus, agent.model

    def post(event) -> None:
        bus.post(event)
        assert agent.loop.flush(GROSS_HANG_S)
    seen = []
    bus.subscribe(TokenIdentified, lambda e: seen.append(model.snapshot().token("S1")))
    post(ReaderAdded(reader="R"))
    assert model.snapshot().reader("R").card_present is False
    assert agent.icon_state() == "none"
    post(CardInserted(reader="R", atr=ATR, model="ePass2003"))
    post(TokenIdentified(reader="R", serial="S1", label="L"))
    assert seen and seen[0][1].label == "L"
    entry = model.snapshot().reader("R")
    assert (entry.card_present, entry.model, entry.reader.atr, entry.token.label,
            entry.token.serial) == (True, "ePass2003", ATR, "L", "S1")
    assert agent.icon_state() == "present"
    snapshot = model.snapshot()
    post(CardRemoved(reader="R", atr=ATR, model="ePass2003"))
    assert snapshot.reader("R").card_present  # a copy, not a live view
    assert model.snapshot().reader("R").token is None
    post(ServiceDown(detail="x"))
    assert agent.icon_state() == "error" and agent.service_up is False


def test_second_agent_in_the_same_session_is_refused(agent):
    agent.acquire_instance()
    other = Agent(Config(), tray=False, notifier=FakeNotifier())
    with pytest.raises(AlreadyRunning) as err:
        other.acquire_instance()
    import os

    assert err.value.pid == os.getpid() and err.value.exit_code == 0
    agent._lock.release()


def test_build_skips_missing_broken_and_unused_components(caplog):
    caplog.set_level("INFO")

    def missing():
        import trayd_no_such_module  # noqa: F401

    def explodes():
        raise OSError("no libfoo")

    good = Recorder(None)
    assert build("good", lambda: good) is good
    assert build("missing", missing) is None
    assert build("explodes", explodes) is None
    assert build("declines", lambda: None) is None
    text = caplog.text
    assert "component missing skipped: missing dependency trayd_no_such_module" in text
    assert "component explodes skipped: OSError: no libfoo" in text
    assert "component declines not used here" in text


def test_compose_without_the_tray_module_runs_the_rest(agent, monkeypatch, caplog):
    """The tray's module (or its gi) missing: the other components are built and wired."""
    import sys

    caplog.set_level("INFO")
    monkeypatch.setitem(sys.modules, "trayd.ui.tray", None)  # import → ModuleNotFoundError
    got = compose(agent, tray=True)
    assert [c.name for c in got] == ["tokens", "ipc", "root_prompt", "browser_follow"]
    assert "component tray skipped: missing dependency trayd.ui.tray" in caplog.text
    assert agent._owner is None and agent._root_offer is not None
    tokens, ipc, prompt = got[0], got[1], got[2]
    assert ipc.service is tokens.service  # the one token service
    assert tokens.model is agent.model and prompt.model is agent.model  # the one model
    tokens.service.close()


def test_compose_honours_no_tray_and_root_prompt_off(agent, caplog):
    caplog.set_level("INFO")
    agent.config.root_prompt = False
    got = compose(agent, tray=False)
    assert [c.name for c in got] == ["tokens", "ipc", "browser_follow"]
    assert "tray disabled (--no-tray)" in caplog.text
    assert "root prompt switched off" in caplog.text
    assert agent._root_offer is None
    got[0].service.close()


def test_service_state_is_known_once_the_monitor_connected(agent):
    t = run_in_thread(agent)
    try:
        deadline = time.monotonic() + 5
        while agent.service_up is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert agent.service_up is True
        assert [r.name for r in agent.model.snapshot().readers] == [
            "Virtual PCD 00 00", "Virtual PCD 00 01"]
        assert agent.worker.notifier.calls == []  # a first connection is not news
    finally:
        agent.request_stop()
        t.join(2)
