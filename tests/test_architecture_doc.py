"""docs/architecture.md says what the code does: its generated blocks are current, the
thread table names every thread a real `trayd run` (tray, token, client) has, and the
component table is the order in which that agent starts its components.

Why a live check on top of the generator: the generator reads `threading.Thread(name=…)`
calls; a thread started some other way (a library's, an unnamed one) would be missing from
the document without anyone noticing. The toolkit's own threads (GLib's gmain, gdbus, its
thread pool; Pango's fontconfig loader) are listed in the document by hand and allowed here
by name.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

from rig.agent_process import AgentProcess
from rig.tray_driver import wait_until
from rig.xserver import have_gui_tools

ROOT = Path(__file__).resolve().parent.parent
# The toolkit's own threads: GLib's (GMainContext, GDBus, GThreadPool "pool-<prgname>") and
# Pango's fontconfig loader ("[pango] fontconfig", Pango 1.5x on Debian 13).
GLIB_THREADS = ("gmain", "gdbus", "pool-", "[pango] ")


def _generator():
    spec = importlib.util.spec_from_file_location(
        "architecture_doc", ROOT / "packaging" / "architecture_doc.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


def test_generated_blocks_are_current():
    gen = _generator()
    current = gen.DOC.read_text(encoding="utf-8")
    assert gen.regenerate(current, gen.blocks()) == current, (
        "docs/architecture.md is stale: run `python packaging/architecture_doc.py --write`")


def test_every_thread_says_what_it_does():
    gen = _generator()
    found = gen.threads()
    names = [t.name for t in found]
    assert "trayd-pcsc-monitor" in names and "ipc-accept" in names, names
    silent = [t.where for t in found if not t.purpose]
    assert not silent, f"threads whose target has no docstring: {silent}"


def test_generator_notices_a_new_thread(tmp_path):
    """The generator must see a thread added anywhere in the package (else the doc lies)."""
    gen = _generator()
    pkg = tmp_path / "trayd" / "core"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text(
        "import threading\n\n"
        "def _spin():\n    \"\"\"Spin for the test.\"\"\"\n\n"
        "def go(n):\n    threading.Thread(target=_spin, name=f\"x-spin:{n}\").start()\n")
    (found,) = gen.threads(tmp_path)
    assert (found.name, found.process, found.where, found.purpose) == (
        "x-spin:<…>", "agent", "trayd.core.x.go", "Spin for the test.")
    table = gen.render_threads([found])
    assert "| `x-spin:<…>` | agent | `trayd.core.x.go` | Spin for the test. |" in table
    with pytest.raises(SystemExit):
        gen.regenerate("no markers here", {"threads": table})


def _live_threads(pid: int) -> dict[str, str]:
    """Thread id → OS name of every thread of `pid`."""
    names = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            names[tid] = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
        except OSError:
            continue
    return names


@pytest.mark.gui
@pytest.mark.skipif(bool(have_gui_tools()), reason="GUI tools missing")
def test_live_agent_threads_are_all_in_the_document(gui_env, dbus_session,
                                                    notification_server, tray_host,
                                                    epass2003, artifacts):
    gen = _generator()
    documented = [t for t in gen.threads() if t.process == "agent"]
    doc = gen.DOC.read_text(encoding="utf-8")
    env = {**gui_env, **dbus_session.env}
    env.pop("TRAYD_TRAY_BACKEND", None)
    log = artifacts / "architecture-doc-agent.log"
    log.unlink(missing_ok=True)
    agent = AgentProcess(env, log, "run", "-v").start()
    try:
        agent.wait_log("tray: icon shown")
        main_comm = Path(f"/proc/{agent.pid}/comm").read_text().strip()
        epass2003()  # inserted: the token service and its worker start
        notification_server.wait_for(1)
        from trayd.ipc.client import connect

        client = connect(timeout=5)
        assert client is not None, "the agent's socket did not answer"
        with client:  # a client connected and subscribed: the per-client threads exist
            wait_until(lambda: client.list_tokens(), 20, "token listed by the agent")
            seen = _live_threads(agent.pid)
    finally:
        agent.stop()
    assert list(seen.values()).count(main_comm) == 1, (
        f"threads without an OS name (they call themselves {main_comm!r}): "
        "name them with trayd.threads.name_os_thread()", seen)
    unknown = sorted(
        comm for comm in set(seen.values())
        if comm != main_comm
        and not comm.startswith(GLIB_THREADS)
        and not any(comm.startswith(t.comm_prefix) for t in documented))
    assert not unknown, f"threads of `trayd run` missing from docs/architecture.md: {unknown}"
    for glib in ("gmain", "gdbus"):
        if glib in seen.values():
            assert f"`{glib}`" in doc, f"GLib's {glib} thread is not explained in the document"
    # The component table is the agent's real start order.
    started = re.findall(r"component (\w+) started", agent.log_text())
    assert started == [c.name for c in gen.components()], started
    # The long-lived ones really run (the table is not a list of names nobody starts).
    blocking = ("trayd-pcsc-moni", "trayd-pkcs11_0", "ipc-accept", "ipc-conn:")
    for name in blocking:
        assert any(comm.startswith(name) for comm in seen.values()), (name, seen)
    # One loop: besides it (the main thread) only the blocking waiters have threads —
    # the PC/SC waiter, the PKCS#11 worker and the IPC server's (a subscribed client
    # adds its event pusher), plus GLib's own.
    others = sorted(comm for comm in seen.values()
                    if comm != main_comm and not comm.startswith(GLIB_THREADS)
                    and not comm.startswith(blocking + ("ipc-events:",)))
    assert not others, f"agent threads beyond the loop and the blocking waiters: {others}"
