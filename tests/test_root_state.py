"""The record of declined fingerprints and of what trayd installed (trust.json)."""
from __future__ import annotations

import json
import multiprocessing

from trayd.core import trust_state


def _append(n: int) -> None:
    for i in range(n):
        with trust_state.Update() as st:
            st.declined.append(f"{multiprocessing.current_process().pid:08X}{i:04X}")


def test_decline_and_forget(home):
    fp = "ab" * 32
    assert not trust_state.is_declined(fp)
    trust_state.decline(fp)
    trust_state.decline(fp.upper())
    assert trust_state.is_declined(fp.upper())
    assert trust_state.load().declined == [fp.upper()]
    trust_state.forget_declined(fp)
    assert not trust_state.is_declined(fp)
    assert (home / ".local/state/trayd/trust.json").is_file()


def test_broken_file_is_set_aside(home):
    path = trust_state.state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert trust_state.load() == trust_state.TrustState()
    assert path.with_suffix(".broken").is_file()
    trust_state.decline("CD" * 32)
    assert json.loads(path.read_text())["declined"] == ["CD" * 32]


def test_concurrent_processes_lose_no_update(home):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append, args=(25,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert len(trust_state.load().declined) == 75
