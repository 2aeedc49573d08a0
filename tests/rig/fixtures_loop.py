"""`agent_loop`: the agent's real loop (`trayd.platform.loop.AgentLoop`) running on a thread.

For tests that drive one component without a whole agent: the component gets this loop,
and its handlers, timers and results run on the loop's thread as in `trayd run`."""
from __future__ import annotations

import threading

import pytest

from rig.timing import GROSS_HANG_S


@pytest.fixture
def agent_loop():
    from trayd.platform.loop import AgentLoop

    loop = AgentLoop()
    thread = threading.Thread(target=loop.run, name="test-agent-loop", daemon=True)
    thread.start()
    started = threading.Event()
    loop.call_soon(started.set)
    assert started.wait(GROSS_HANG_S), "the loop did not start"
    yield loop
    loop.flush(GROSS_HANG_S)
    loop.quit()
    thread.join(GROSS_HANG_S)
    assert not thread.is_alive(), "the loop did not stop"
