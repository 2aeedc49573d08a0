"""SIGTERM/SIGINT stop the agent within 1 s even while a GLib main loop owns the main
thread (what the tray does), because signals reach request_stop() through the wake-up fd
and the agent's Python handler, not through the main loop."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from rig.timing import GROSS_HANG_S

CHILD = r"""
import logging, sys
from gi.repository import GLib
from trayd.agent.agent import Agent
from trayd.config import Config

logging.basicConfig(level=logging.INFO, stream=sys.stderr)

class GLibOwner:
    name = "glib-owner"
    def __init__(self):
        self.loop = GLib.MainLoop()
    def start(self):
        GLib.idle_add(lambda: print("loop running", flush=True) and False)
    def stop(self):
        pass
    def run_main_loop(self):
        self.loop.run()
    def stop_main_loop(self):
        GLib.idle_add(self.loop.quit)  # thread-safe: runs in the loop's thread
    def loop_running(self):
        return self.loop.is_running()

agent = Agent(Config(), tray=False)
owner = GLibOwner()
agent.add_component(owner)
agent.set_main_loop_owner(owner)
sys.exit(agent.run())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_agent_whose_main_thread_runs_glib(trayd_env, dbus_session, sig):
    proc = subprocess.Popen([sys.executable, "-c", CHILD], env={**trayd_env, **dbus_session.env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "loop running"
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait(5)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert rc == 0, err
    assert elapsed < GROSS_HANG_S, err
    assert "trayd agent stopped" in err
